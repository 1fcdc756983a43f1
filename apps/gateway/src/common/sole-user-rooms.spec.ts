import { SoleRoomsRedis, SoleUserRooms } from './sole-user-rooms';

const PREFIX = 'gateway-present:';

/**
 * Redis's shard channels as far as the rooms see them: a subscription is
 * active when its promise resolves, a publish reaches the channel's
 * subscribers of that moment (queued until the spec delivers them), and its
 * reply (the number reached) may be held back, so every interleaving is the
 * spec's choice.
 */
class FakeShards {
  private readonly channels = new Map<string, Map<string, (raw: Buffer) => void>>();
  private readonly queued: (() => void)[] = [];
  private readonly replies: (() => void)[] = [];
  holdReplies = false;

  redisOf(process: string): SoleRoomsRedis {
    return {
      subscriber: {
        sSubscribe: async (channel, listener) => {
          this.subscribers(channel).set(process, listener);
        },
      },
      publisher: {
        sPublish: (channel, message) => {
          const reached = [...this.subscribers(channel).values()];
          for (const listener of reached) this.queued.push(() => listener(Buffer.from(message)));
          return new Promise((resolve) => {
            const reply = () => resolve(reached.length);
            if (this.holdReplies) this.replies.push(reply);
            else reply();
          });
        },
      },
    };
  }

  /** The process's adapter unsubscribed (its last socket of the room left). */
  leave(process: string, channel: string): void {
    this.subscribers(channel).delete(process);
  }

  async deliver(): Promise<void> {
    while (this.queued.length > 0) {
      this.queued.shift()!();
      await settle();
    }
  }

  async releaseReplies(): Promise<void> {
    for (const reply of this.replies.splice(0)) reply();
    await settle();
  }

  private subscribers(channel: string) {
    let subs = this.channels.get(channel);
    if (!subs) this.channels.set(channel, (subs = new Map()));
    return subs;
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
const channelOf = (room: string) => `socket.io#/#${room}#`;

function roomsOf(shards: FakeShards, process: string, answerWaitMs?: number): SoleUserRooms {
  return new SoleUserRooms({
    ...shards.redisOf(process),
    channelOf,
    announcement: `${PREFIX}${process}`,
    isAnnouncement: (raw) => raw.toString().startsWith(PREFIX),
    answerWaitMs,
  });
}

/** Whether the promise has settled by now. */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(() => (settled = true));
  await settle();
  return settled;
}

describe('SoleUserRooms: which user rooms no other gateway process holds', () => {
  it('holds a room alone until another process claims it, whose claim resolves only once every holder heard it', async () => {
    const shards = new FakeShards();
    const a = roomsOf(shards, 'a');
    const b = roomsOf(shards, 'b');
    await a.claim('user:1');
    await shards.deliver();
    expect(a.isSole('user:1')).toBe(true);
    expect(a.isSole('user:2')).toBe(false);

    // Redis passed b's announcement on, but a has not read it yet: b's claim waits for a's answer.
    const claimB = b.claim('user:1');
    expect(await isSettled(claimB)).toBe(false);
    expect(a.isSole('user:1')).toBe(true);
    await shards.deliver();
    expect(await isSettled(claimB)).toBe(true);
    expect([a.isSole('user:1'), b.isSole('user:1')]).toEqual([false, false]);
  });

  it('counts only answers to its own claim, one per process, and stops waiting for a subscriber that never answers', async () => {
    const shards = new FakeShards();
    const a = roomsOf(shards, 'a');
    const b = roomsOf(shards, 'b');
    const c = roomsOf(shards, 'c', 200);
    await a.claim('user:1');
    const claimB = b.claim('user:1');
    await settle();
    // c's announcement reaches a and b; a answers both b and c, b answers c: b still waits for nobody else.
    const claimC = c.claim('user:1');
    await settle();
    await shards.deliver();
    expect(await isSettled(claimB)).toBe(true);
    expect(await isSettled(claimC)).toBe(true);
    expect([a.isSole('user:1'), b.isSole('user:1'), c.isSole('user:1')]).toEqual([false, false, false]);

    // A subscriber that is leaving (it no longer listens) never answers: the claim ends after its wait anyway.
    const silent = shards.redisOf('leaving');
    await silent.subscriber.sSubscribe(channelOf('user:2'), () => undefined, true);
    const claimed = c.claim('user:2');
    await shards.deliver();
    expect(await isSettled(claimed)).toBe(false);
    await claimed;
    expect(c.isSole('user:2')).toBe(false);
  });

  it('believes no count of one from Redis when another process was heard while it waited for the count', async () => {
    const shards = new FakeShards();
    const a = roomsOf(shards, 'a');
    const b = roomsOf(shards, 'b');
    shards.holdReplies = true;
    const claimA = a.claim('user:1');
    await settle();
    // b claims and leaves again while Redis's count for a (one: a alone when Redis ran it) is on its way.
    const claimB = b.claim('user:1');
    await settle();
    await shards.deliver();
    shards.leave('b', channelOf('user:1'));
    await shards.releaseReplies();
    await Promise.all([claimA, claimB]);
    expect(a.isSole('user:1')).toBe(false);
  });

  it('announces once per holding, however many sockets of the user join', async () => {
    const shards = new FakeShards();
    const a = roomsOf(shards, 'a');
    const b = roomsOf(shards, 'b');
    await b.claim('user:1');
    const claims = Promise.all([a.claim('user:1'), a.claim('user:1')]);
    await settle();
    await shards.deliver();
    await claims;
    const heard: string[] = [];
    const listen = shards.redisOf('spy');
    await listen.subscriber.sSubscribe(channelOf('user:1'), (raw) => heard.push(raw.toString()), true);
    await a.claim('user:1');
    await shards.deliver();
    expect(heard).toEqual([]);
  });

  it('holds a room alone again once claimed anew after the other process left', async () => {
    const shards = new FakeShards();
    const a = roomsOf(shards, 'a');
    const b = roomsOf(shards, 'b');
    await b.claim('user:1');
    const claimA = a.claim('user:1');
    await settle();
    await shards.deliver();
    await claimA;
    expect(a.isSole('user:1')).toBe(false);
    shards.leave('b', channelOf('user:1'));
    b.release('user:1');
    // Shared once, published to until a lets the room go and claims it again.
    expect(a.isSole('user:1')).toBe(false);
    a.release('user:1');
    shards.leave('a', channelOf('user:1'));
    await a.claim('user:1');
    expect(a.isSole('user:1')).toBe(true);
  });

  it('does not hold a room it let go while Redis counted its claim, and ends every claim when its subscriptions were lost', async () => {
    const shards = new FakeShards();
    const a = roomsOf(shards, 'a');
    shards.holdReplies = true;
    const claim = a.claim('user:1');
    await settle();
    a.release('user:1');
    await shards.releaseReplies();
    await claim;
    expect(a.isSole('user:1')).toBe(false);

    shards.holdReplies = false;
    await a.claim('user:2');
    await a.claim('user:3');
    expect(a.soleCount).toBe(2);
    a.subscriptionLost();
    expect([a.isSole('user:2'), a.isSole('user:3'), a.soleCount]).toEqual([false, false, 0]);
  });
});
