import { Injectable } from '@nestjs/common';
import { UserRepository } from '@app/auth';
import { DomainError, MAX_PAGE } from '@app/contracts';
import { decodePageCursor, encodePageCursor, timeCursor } from '@app/database';
import { BlockRepository } from './block.repository';
import { ContactRepository } from './contact.repository';
import { BlockedUserDto, toBlockedUserDto } from './relationship-dtos';

/** Run after a block was stored (calls end theirs between the two). */
export type BlockListener = (blockerId: string, blockedId: string) => Promise<void>;

/** Who may reach whom: contacts in both directions and blocks in either. */
@Injectable()
export class RelationshipService {
  private readonly blockListeners: BlockListener[] = [];

  constructor(
    private readonly contacts: ContactRepository,
    private readonly blocks: BlockRepository,
    private readonly users: UserRepository,
  ) {}

  /** Both users have each other as contacts. */
  areMutualContacts(a: string, b: string): Promise<boolean> {
    return this.contacts.areMutual(a, b);
  }

  /** Either user blocked the other. */
  isBlockedEitherWay(a: string, b: string): Promise<boolean> {
    return this.blocks.existsEitherWay(a, b);
  }

  /** Idempotent: blocking twice is blocking once. Listeners run every time (what they end is ended once). */
  async block(blockerId: string, blockedId: string): Promise<void> {
    await this.requireOtherUser(blockerId, blockedId);
    await this.blocks.add(blockerId, blockedId);
    for (const listener of this.blockListeners) await listener(blockerId, blockedId);
  }

  onBlocked(listener: BlockListener): void {
    this.blockListeners.push(listener);
  }

  /** Idempotent: unblocking someone not blocked does nothing. */
  async unblock(blockerId: string, blockedId: string): Promise<void> {
    await this.blocks.remove(blockerId, blockedId);
  }

  async listBlocked(
    blockerId: string,
    page: { limit?: number; cursor?: string } = {},
  ): Promise<{ blocks: BlockedUserDto[]; nextCursor: string | null }> {
    const after = decodePageCursor(page.cursor, timeCursor);
    const limit = page.limit ?? MAX_PAGE;
    const rows = await this.blocks.listBy(blockerId, limit + 1, after && { at: new Date(after.at), id: after.id });
    const blocks = rows.slice(0, limit);
    const last = blocks[blocks.length - 1];
    const nextCursor = rows.length > limit ? encodePageCursor({ at: last.blockedAt.toISOString(), id: last.user.id }) : null;
    return { blocks: blocks.map(toBlockedUserDto), nextCursor };
  }

  /** The other user of a relationship: not oneself, and existing. */
  async requireOtherUser(selfId: string, otherId: string, field = 'userId'): Promise<void> {
    if (selfId === otherId) {
      throw new DomainError('VALIDATION_FAILED', `${field} must be another user, not yourself`, {
        fields: [{ field, message: 'must not be yourself' }],
      });
    }
    if (!(await this.users.exists(otherId))) throw DomainError.notFound('user');
  }
}
