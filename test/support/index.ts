export * from './test-database';
export * from './test-gateway';
export * from './spawn-gateway';
export * from './test-clients';
export * from './test-rooms';
export * from './repository-database';
export * from './wait';
export * from './seeded-random';
