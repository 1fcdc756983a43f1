/** The tests' names for the harness's scratch databases (each test file creates and drops its own). */
export { SCRATCH_SERVER_URL as TEST_SERVER_URL, createScratchDatabase as createTestDatabase } from '@app/harness';
export type { ScratchDatabase as TestDatabase } from '@app/harness';
