import { Injectable } from '@nestjs/common';
import { UserRepository } from '@app/auth';
import { Clock } from '@app/config';
import { DomainError } from '@app/contracts';
import { FlagAuditRecord, FlagChange, FlagDefinition, FlagRepository } from './flag.repository';
import { FlagsService } from './flags.service';

/**
 * Changing flags: validation against known users, the change and its audit
 * entry written together, and this process's definitions updated and its
 * sockets pushed at once (other processes follow through the change feed).
 */
@Injectable()
export class FlagAdminService {
  constructor(
    private readonly repository: FlagRepository,
    private readonly users: UserRepository,
    private readonly flags: FlagsService,
    private readonly clock: Clock,
  ) {}

  list(): Promise<FlagDefinition[]> {
    return this.repository.findAll();
  }

  /** Creates the flag when the key is new (switched off, 0 %) and applies the change. */
  async change(key: string, change: FlagChange, actor: string): Promise<FlagDefinition> {
    const normalised: FlagChange = {
      ...change,
      allowUserIds: change.allowUserIds && distinct(change.allowUserIds),
      denyUserIds: change.denyUserIds && distinct(change.denyUserIds),
    };
    await this.requireKnownUsers(normalised);
    const { definition } = await this.repository.applyChange(key, normalised, actor, () => this.clock.now());
    // Read-your-writes on this process; the change feed's announcement refreshes the others.
    this.flags.applyCommitted(definition);
    return definition;
  }

  async audit(key: string, limit: number): Promise<FlagAuditRecord[]> {
    if (!(await this.repository.find(key))) throw DomainError.notFound(`flag "${key}"`);
    return this.repository.audit(key, limit);
  }

  private async requireKnownUsers(change: FlagChange): Promise<void> {
    const lists = { allowUserIds: change.allowUserIds ?? [], denyUserIds: change.denyUserIds ?? [] };
    const all = distinct([...lists.allowUserIds, ...lists.denyUserIds]);
    if (all.length === 0) return;
    const known = await this.users.existing(all);
    const fields = Object.entries(lists)
      .map(([field, ids]) => ({ field, unknown: ids.filter((id) => !known.has(id)) }))
      .filter((f) => f.unknown.length > 0);
    if (fields.length === 0) return;
    const unknownUserIds = distinct(fields.flatMap((f) => f.unknown));
    throw new DomainError('VALIDATION_FAILED', `unknown user ids: ${unknownUserIds.slice(0, 10).join(', ')}`, {
      fields: fields.map((f) => ({ field: f.field, message: `unknown user ids: ${f.unknown.join(', ')}` })),
      unknownUserIds,
    });
  }
}

function distinct(ids: string[]): string[] {
  return [...new Set(ids.map((id) => id.toLowerCase()))];
}
