export * from './webrtc-call';
export * from './webrtc-json';
