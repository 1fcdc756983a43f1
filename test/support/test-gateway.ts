/** The tests' names for the harness's in-process gateway and its environment. */
import type { InProcessGateway, InProcessGatewayOptions } from '@app/harness';

export {
  HARNESS_ADMIN_TOKEN as TEST_ADMIN_TOKEN,
  harnessEnv as testEnv,
  startInProcessGateway as startTestGateway,
  uniqueHandle,
} from '@app/harness';

export type TestGateway = InProcessGateway;
export type TestGatewayOptions = InProcessGatewayOptions;
