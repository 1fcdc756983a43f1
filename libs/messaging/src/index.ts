export * from './messaging.module';
export * from './direct-messages.service';
export { encodeSyncCursor, decodeSyncCursor } from './sync-cursor';
