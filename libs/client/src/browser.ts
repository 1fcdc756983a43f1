// The SDK for a page: the core (HTTP, socket.io, the protocol's requests and events) and a
// WebRTC call helper on mediasoup-client. The plain-RTP media of ./media needs Node and is left out.
export * from './core';
export * from './webrtc';
