export * from './rtp-packet';
export * from './rtp-udp-socket';
export * from './opus-codec';
export * from './tone';
export * from './plain-rtp-parameters';
export * from './plain-media-session';
export * from './synthetic-video';
