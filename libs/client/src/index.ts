export * from './client-error';
export * from './http-api';
export * from './social-client';
