import { Injectable } from '@nestjs/common';
import { UserRepository } from '@app/auth';
import { DomainError } from '@app/contracts';
import { BlockRepository, BlockRow } from './block.repository';
import { ContactRepository } from './contact.repository';

/** Who may reach whom: contacts in both directions and blocks in either. */
@Injectable()
export class RelationshipService {
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

  /** Idempotent: blocking twice is blocking once. */
  async block(blockerId: string, blockedId: string): Promise<void> {
    await this.requireOtherUser(blockerId, blockedId);
    await this.blocks.add(blockerId, blockedId);
  }

  /** Idempotent: unblocking someone not blocked does nothing. */
  async unblock(blockerId: string, blockedId: string): Promise<void> {
    await this.blocks.remove(blockerId, blockedId);
  }

  listBlocked(blockerId: string): Promise<BlockRow[]> {
    return this.blocks.listBy(blockerId);
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
