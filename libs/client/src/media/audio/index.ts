export * from './e-model';
export * from './tone-snr';
export * from './loss-aware-decoder';
export * from './audio-leg-report';
