export * from './messaging.module';
export * from './relationship.service';
export * from './contacts.service';
export * from './direct-messages.service';
export { encodeSyncCursor, decodeSyncCursor } from './sync-cursor';
export { encodePageCursor, decodePageCursor, offsetCursor, timeCursor, withinResponseBytes } from './page-cursor';
export type { BlockedUserDto } from './messaging-dtos';
