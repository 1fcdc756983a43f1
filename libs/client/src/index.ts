export * from './client-error';
export * from './sleep';
export * from './http-api';
export * from './social-client';
export * from './messages';
export * from './contacts';
export * from './calls';
export * from './flags';
export * from './admin';
// Plain-RTP Opus media (Node only: UDP sockets and opusscript).
export * from './media';
