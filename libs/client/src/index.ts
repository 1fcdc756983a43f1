export * from './browser';
// Plain-RTP Opus media (Node only: UDP sockets and opusscript).
export * from './media';
