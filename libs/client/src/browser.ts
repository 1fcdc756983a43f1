// The SDK's browser entry point: everything that runs in a page (HTTP, socket.io, the protocol's
// requests and events). The plain-RTP media of ./media needs Node (UDP sockets) and is left out.
export * from './client-error';
export * from './sleep';
export * from './http-api';
export * from './social-client';
export * from './messages';
export * from './contacts';
export * from './calls';
export * from './flags';
export * from './admin';
