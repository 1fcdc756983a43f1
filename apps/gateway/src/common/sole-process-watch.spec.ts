import { SolePublisher, SoleProcessWatch } from './sole-process-watch';

const CHANNEL = 'socket.io:test#/#';

/**
 * Redis's shard channel as far as the watch sees it: publishes are queued per
 * subscriber and delivered when the spec says (deliver), and counts answer
 * when the spec releases them, so every interleaving is the spec's choice.
 */
class FakeChannel {
  private readonly subscribers = new Set<SoleProcessWatch>();
  private readonly queued: { to: SoleProcessWatch; raw: Buffer }[] = [];
  private readonly counts: (() => void)[] = [];
  holdCounts = false;

  publisher(): SolePublisher {
    return {
      sPublish: async (_channel, message) => {
        for (const to of this.subscribers) this.queued.push({ to, raw: Buffer.from(message) });
        return this.subscribers.size;
      },
      sendCommand: (args) => {
        // The count is taken when Redis runs the command; the reply may reach the process later.
        const subscribers = this.subscribers.size;
        return new Promise((resolve) => {
          const answer = () => resolve([args[2], subscribers]);
          if (this.holdCounts) this.counts.push(answer);
          else answer();
        });
      },
    };
  }

  subscribe(watch: SoleProcessWatch): void {
    this.subscribers.add(watch);
  }

  unsubscribe(watch: SoleProcessWatch): void {
    this.subscribers.delete(watch);
  }

  /** Delivers every queued message (and what it causes) to its subscriber. */
  async deliver(): Promise<void> {
    while (this.queued.length > 0) {
      const { to, raw } = this.queued.shift()!;
      to.onMessage(raw);
      await settle();
    }
  }

  async releaseCounts(): Promise<void> {
    for (const answer of this.counts.splice(0)) answer();
    await settle();
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function watchOn(channel: FakeChannel, uid: string, changes: boolean[] = []): SoleProcessWatch {
  // A recheck period no spec waits for: rechecks are called by the specs themselves.
  return new SoleProcessWatch({
    publisher: channel.publisher(),
    channel: CHANNEL,
    uid,
    recheckMs: 3_600_000,
    onChange: (s) => changes.push(s),
  });
}

/** A watch whose process is subscribed to the channel (its announcements come back to it). */
function subscribedWatch(channel: FakeChannel, uid: string, changes?: boolean[]): SoleProcessWatch {
  const watch = watchOn(channel, uid, changes);
  channel.subscribe(watch);
  return watch;
}

describe(SoleProcessWatch.name, () => {
  const started: SoleProcessWatch[] = [];
  afterEach(() => started.splice(0).forEach((w) => w.stop()));
  const start = async (w: SoleProcessWatch) => (started.push(w), await w.start());

  it('is sole once it heard itself and counted one subscriber, and not while another process is there', async () => {
    const channel = new FakeChannel();
    const changes: boolean[] = [];
    const a = subscribedWatch(channel, 'a', changes);
    await start(a);
    expect(a.isSole).toBe(false);
    await channel.deliver();
    expect(a.isSole).toBe(true);

    const b = subscribedWatch(channel, 'b');
    await start(b);
    await channel.deliver();
    expect(a.isSole).toBe(false);
    expect(b.isSole).toBe(false);

    // b leaves: a is sole again at its next recheck, not before.
    channel.unsubscribe(b);
    b.stop();
    expect(a.isSole).toBe(false);
    await a.recheck();
    await channel.deliver();
    expect(a.isSole).toBe(true);
    expect(changes).toEqual([true, false, true]);
  });

  it('never believes a count of one taken before it heard itself (that one may be another process)', async () => {
    const channel = new FakeChannel();
    subscribedWatch(channel, 'other');
    const a = watchOn(channel, 'a');
    await start(a); // not subscribed: its announcement never comes back
    await channel.deliver();
    expect(a.isSole).toBe(false);
  });

  it('does not believe a count during which another process announced itself', async () => {
    const channel = new FakeChannel();
    const a = subscribedWatch(channel, 'a');
    channel.holdCounts = true;
    await start(a);
    await channel.deliver(); // a heard itself; its count (one subscriber) is held
    // Another process announces itself before it subscribed (the count did not see it).
    const b = watchOn(channel, 'b');
    await b.recheck();
    channel.subscribe(b);
    await channel.deliver();
    await channel.releaseCounts();
    expect(a.isSole).toBe(false);
  });

  it('stops being sole when its subscriber connection is lost, until it hears itself again', async () => {
    const channel = new FakeChannel();
    const a = subscribedWatch(channel, 'a');
    await start(a);
    await channel.deliver();
    expect(a.isSole).toBe(true);
    a.subscriptionLost();
    expect(a.isSole).toBe(false);
    await a.recheck();
    await channel.deliver();
    expect(a.isSole).toBe(true);
  });

  it('tells announcements from socket.io messages by their first bytes', () => {
    const a = watchOn(new FakeChannel(), 'a');
    expect(a.isAnnouncement(Buffer.from('gateway-present:b'))).toBe(true);
    expect(a.isAnnouncement(Buffer.from('{"uid":"x","type":3}'))).toBe(false);
    expect(a.isAnnouncement(Buffer.from([0x83, 0xa3]))).toBe(false);
  });
});
