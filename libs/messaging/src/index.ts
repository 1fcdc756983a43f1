export * from './call-entry.writer';
export * from './messaging.module';
export * from './relationship.service';
