export * from './seeded-random';
export * from './network-conditions';
export * from './link-impairment';
