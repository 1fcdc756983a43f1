// The SDK for Node: the core plus plain-RTP media (UDP sockets, Opus through opusscript,
// the VP8 clip, network conditions, audio and video reports).
export * from './core';
export * from './media';
