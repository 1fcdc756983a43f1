import { EventEmitter } from 'node:events';
import { Injectable } from '@nestjs/common';
import { PrismaService } from '@app/database';
import { evaluateFlag, FlagRule } from './flag-evaluator';

export const VIDEO_CALL_FLAG = 'video_call';

/**
 * Flag evaluation for the rest of the server. Other modules ask here
 * (isEnabled / isEnabledForAll) and listen for changes (onChange).
 */
@Injectable()
export class FlagsService {
  private readonly changes = new EventEmitter();

  constructor(private readonly prisma: PrismaService) {}

  async isEnabled(key: string, userId: string): Promise<boolean> {
    const rule = await this.rule(key);
    return rule !== null && evaluateFlag(rule, userId);
  }

  /** True when the flag is on for every one of the users (video needs both callers). */
  async isEnabledForAll(key: string, userIds: string[]): Promise<boolean> {
    const rule = await this.rule(key);
    return rule !== null && userIds.every((id) => evaluateFlag(rule, id));
  }

  /** Listener runs after a flag's definition changed. */
  onChange(listener: (key: string) => void | Promise<void>): void {
    this.changes.on('change', listener);
  }

  protected emitChange(key: string): void {
    this.changes.emit('change', key);
  }

  private async rule(key: string): Promise<FlagRule | null> {
    return this.prisma.featureFlag.findUnique({ where: { key } });
  }
}
