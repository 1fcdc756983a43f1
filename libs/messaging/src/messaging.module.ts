import { Global, Module } from '@nestjs/common';
import { CallEntryWriter } from './call-entry.writer';
import { RelationshipService } from './relationship.service';

@Global()
@Module({ providers: [RelationshipService, CallEntryWriter], exports: [RelationshipService, CallEntryWriter] })
export class MessagingModule {}
