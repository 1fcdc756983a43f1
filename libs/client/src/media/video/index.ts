export * from './ivf';
export * from './vp8-frame';
export * from './vp8-rtp';
export * from './rtcp-feedback';
export * from './video-clip';
export * from './video-receiver-stats';
