import { Injectable } from '@nestjs/common';
import type { CallEndReason, CallMedia, CallState } from '@app/contracts';
import { Prisma, PrismaService } from '@app/database';
import type { CallRecord } from './call-record';

export interface NewCall {
  callerId: string;
  calleeId: string;
  media: CallMedia;
  createdAt: Date;
  ringEndsAt: Date;
}

export interface CallEnd {
  endedAt: Date;
  endReason: CallEndReason;
  endedById: string | null;
}

const LIVE_STATES: CallState[] = ['ringing', 'active'];

/**
 * The calls aggregate in PostgreSQL. Every state change is a conditional
 * update (WHERE state = ...), so of two actors or timers racing for one call
 * exactly one changes it; the loser gets null.
 */
@Injectable()
export class CallRepository {
  constructor(private readonly prisma: PrismaService) {}

  /**
   * Stores a ringing call and both participants' slots in one transaction.
   * The slot's primary key (user id) lets a user hold one live call: when
   * either already has one, nothing is stored and 'busy' comes back.
   */
  async createRinging(input: NewCall): Promise<CallRecord | 'busy'> {
    try {
      return (await this.prisma.call.create({
        data: {
          ...input,
          state: 'ringing',
          // Slots in one order (by user id) whoever calls whom: two users calling each other at
          // the same moment then collide on the first slot (one gets 'busy') instead of each
          // holding one slot and waiting for the other's (a deadlock, which PostgreSQL aborts).
          slots: { create: [input.callerId, input.calleeId].sort().map((userId) => ({ userId })) },
        },
      })) as CallRecord;
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') return 'busy';
      throw err;
    }
  }

  async findById(id: string): Promise<CallRecord | null> {
    return (await this.prisma.call.findUnique({ where: { id } })) as CallRecord | null;
  }

  /** The ringing call from caller to callee, if any (glare detection). */
  async findRinging(callerId: string, calleeId: string): Promise<CallRecord | null> {
    return (await this.prisma.call.findFirst({
      where: { callerId, calleeId, state: 'ringing' },
    })) as CallRecord | null;
  }

  /** The ringing or active call the user takes part in, if any. */
  async liveCallOf(userId: string): Promise<CallRecord | null> {
    const slot = await this.prisma.callSlot.findUnique({ where: { userId }, include: { call: true } });
    return slot && LIVE_STATES.includes(slot.call.state) ? (slot.call as CallRecord) : null;
  }

  /** ringing → active, with its cap and the media node chosen for its room stored alongside. */
  async markActive(id: string, answeredAt: Date, maxEndsAt: Date, mediaNodeId: string): Promise<CallRecord | null> {
    return this.changeIf({ id, state: 'ringing' }, { state: 'active', answeredAt, maxEndsAt, mediaNodeId });
  }

  /**
   * Moves an active call's room from one node to another, only if it is
   * still recorded on `fromNodeId`: of several processes recovering the
   * same room, exactly one wins (the others get null and use the winner's).
   */
  async moveMedia(id: string, fromNodeId: string | null, toNodeId: string): Promise<CallRecord | null> {
    return this.changeIf({ id, state: 'active', mediaNodeId: fromNodeId }, { mediaNodeId: toNodeId });
  }

  /** Active calls whose room is on a node not in `liveNodeIds` (lost), oldest first. */
  async activeOffNodes(liveNodeIds: string[], limit: number): Promise<CallRecord[]> {
    return (await this.prisma.call.findMany({
      where: { state: 'active', OR: [{ mediaNodeId: null }, { mediaNodeId: { notIn: liveNodeIds } }] },
      orderBy: { answeredAt: 'asc' },
      take: limit,
    })) as CallRecord[];
  }

  /** Active calls whose room is on the given node. */
  async activeOnNode(nodeId: string, limit: number): Promise<CallRecord[]> {
    return (await this.prisma.call.findMany({
      where: { state: 'active', mediaNodeId: nodeId },
      orderBy: { answeredAt: 'asc' },
      take: limit,
    })) as CallRecord[];
  }

  /** Active video calls, a page at a time in id order (re-checked when the video flag changes). */
  async activeVideoPage(afterId: string | null, limit: number): Promise<CallRecord[]> {
    return (await this.prisma.call.findMany({
      where: { state: 'active', media: 'video', ...(afterId ? { id: { gt: afterId } } : {}) },
      orderBy: { id: 'asc' },
      take: limit,
    })) as CallRecord[];
  }

  /** Records that the cap's warning went out; null when it already did or the call is not active. */
  async markWarned(id: string, at: Date): Promise<CallRecord | null> {
    return this.changeIf({ id, state: 'active', warnedAt: null }, { warnedAt: at });
  }

  /** Ends the call if it is in one of `from`, and frees both participants' slots, atomically. */
  async end(id: string, from: CallState[], end: CallEnd): Promise<CallRecord | null> {
    return this.prisma.$transaction(async (tx) => {
      const { count } = await tx.call.updateMany({
        where: { id, state: { in: from } },
        data: { state: 'ended', ...end },
      });
      if (count === 0) return null;
      await tx.callSlot.deleteMany({ where: { callId: id } });
      return (await tx.call.findUnique({ where: { id } })) as CallRecord;
    });
  }

  async storeMediaStats(id: string, stats: Record<string, unknown>): Promise<void> {
    await this.prisma.call.update({ where: { id }, data: { mediaStats: stats as Prisma.InputJsonValue } });
  }

  /** The user's calls, newest first; `after` continues behind the call created at `at` with id `id`. */
  async history(userId: string, limit: number, after?: { at: Date; id: string }): Promise<CallRecord[]> {
    return (await this.prisma.call.findMany({
      where: {
        AND: [
          { OR: [{ callerId: userId }, { calleeId: userId }] },
          after ? { OR: [{ createdAt: { lt: after.at } }, { createdAt: after.at, id: { lt: after.id } }] } : {},
        ],
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: limit,
    })) as CallRecord[];
  }

  /** Active calls past their cap, and ringing calls past their ring time (found after a restart). */
  async overdue(now: Date, limit: number): Promise<CallRecord[]> {
    return (await this.prisma.call.findMany({
      where: {
        OR: [
          { state: 'active', maxEndsAt: { lte: now } },
          { state: 'ringing', ringEndsAt: { lte: now } },
        ],
      },
      orderBy: { createdAt: 'asc' },
      take: limit,
    })) as CallRecord[];
  }

  /** Live calls, a page at a time in id order (for re-arming their timers). */
  async livePage(afterId: string | null, limit: number): Promise<CallRecord[]> {
    return (await this.prisma.call.findMany({
      where: { state: { in: LIVE_STATES }, ...(afterId ? { id: { gt: afterId } } : {}) },
      orderBy: { id: 'asc' },
      take: limit,
    })) as CallRecord[];
  }

  private async changeIf(where: Prisma.CallWhereInput & { id: string }, data: Prisma.CallUpdateManyMutationInput) {
    // In one transaction the row stays locked from the update to the read,
    // so the caller sees the state it set, not a later one.
    return this.prisma.$transaction(async (tx) => {
      const { count } = await tx.call.updateMany({ where, data });
      return count === 0 ? null : ((await tx.call.findUnique({ where: { id: where.id } })) as CallRecord);
    });
  }
}
