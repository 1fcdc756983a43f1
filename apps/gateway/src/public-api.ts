// The gateway as a package (`@app/gateway`): the one way another program starts it in its own
// process (the simulator's embedded gateway, the tests). Nothing else of this app is imported elsewhere.
export { startGateway } from './gateway-app';
export type { GatewayOptions, RunningGateway } from './gateway-app';
