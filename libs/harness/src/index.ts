/**
 * What tests and benchmarks both need to run the gateway for real, and
 * nothing of either: scratch PostgreSQL databases, the gateway started in
 * this process on one of them (with the environment both use), free ports,
 * and a process's inspector for forced full collections. test/support
 * (`@app/testing`) builds the test helpers on it and bench/ its load
 * runners; neither imports the other. No jest globals here, and no app
 * imports it (it sits above `@app/gateway`, not under it).
 */
export * from './scratch-database';
export * from './in-process-gateway';
export * from './free-port';
export * from './heap-inspector';
export * from './gateway-process';
