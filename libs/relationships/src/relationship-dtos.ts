import type { ContactDto } from '@app/contracts';
import type { BlockRow } from './block.repository';
import type { ContactRow } from './contact.repository';

/** The protocol's shapes of contacts and blocks, made only here from their repositories' rows. */

export function toContactDto(row: ContactRow): ContactDto {
  return { user: row.user, favorite: row.favorite, mutual: row.mutual, addedAt: row.addedAt.toISOString() };
}

/** An entry of GET /blocks. */
export interface BlockedUserDto {
  user: { id: string; handle: string; displayName: string };
  blockedAt: string;
}

export function toBlockedUserDto(row: BlockRow): BlockedUserDto {
  return { user: row.user, blockedAt: row.blockedAt.toISOString() };
}
