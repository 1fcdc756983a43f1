/** The parts of two `redis` v4 clients the rooms use: the adapter's subscriber and publisher. */
export interface SoleRoomsRedis {
  subscriber: { sSubscribe(channel: string, listener: (message: Buffer) => void, bufferMode: true): Promise<void> };
  publisher: { sPublish(channel: string, message: string): Promise<number> };
}

export interface SoleUserRoomsOptions extends SoleRoomsRedis {
  /** The shard channel of a room (the adapter's dynamic channel). */
  channelOf(room: string): string;
  /** An announcement of this process (what SoleProcessWatch announces too). */
  announcement: string;
  /** Whether a message is any process's announcement. */
  isAnnouncement(raw: Buffer): boolean;
  /** Called with the number of rooms held alone whenever it changes. */
  onCount?: (soleRooms: number) => void;
  /** How long a claim waits for the other subscribers' answers (one that is leaving may never answer). */
  answerWaitMs?: number;
}

interface RoomClaim {
  sole: boolean;
  /** Bumped by every other process heard on the room's channel, so Redis's count of one is not believed after one. */
  othersSeen: number;
  ready: Promise<void>;
  /** The processes that answered this claim's announcement (they stopped delivering alone). */
  answeredBy: Set<string>;
  onAnswer?: () => void;
}

/** Between the answering process's announcement and the one it answers. */
const ANSWER = ' heard ';
const DEFAULT_ANSWER_WAIT_MS = 1000;

/**
 * Which user rooms of this process no other gateway process holds, so an
 * emit to one of them is delivered here and not published: with several
 * gateways, a DM's copy for its sender's other devices then costs nothing
 * when the sender has no device elsewhere.
 *
 * A process claims a user's room when it takes the user's first socket,
 * before that socket is connected: it subscribes to the room's channel and
 * announces itself on it. Redis answers the announcement with the number of
 * subscribers it reached; one (this process) means nobody else holds the
 * room, unless another process was heard on the channel meanwhile. Every
 * other holder stops delivering alone as it hears the announcement, then
 * answers it on the channel; the claim resolves (and the new socket is
 * connected) once every subscriber reached has answered. Redis having
 * passed the announcement on is not enough: the holder may not have read it
 * yet when the new socket's user acts through it. A room stays published
 * to once shared, until this process lets it go (its last socket of the
 * user left) and claims it again; a lost subscriber connection ends every
 * claim so.
 */
export class SoleUserRooms {
  private readonly claims = new Map<string, RoomClaim>();
  private soleRooms = 0;

  constructor(private readonly options: SoleUserRoomsOptions) {}

  isSole(room: string): boolean {
    return this.claims.get(room)?.sole === true;
  }

  /** Claims the room (once per holding); resolved when every other holder has answered (or after the wait). */
  claim(room: string): Promise<void> {
    const held = this.claims.get(room);
    if (held) return held.ready;
    const claim: RoomClaim = { sole: false, othersSeen: 0, ready: Promise.resolve(), answeredBy: new Set() };
    this.claims.set(room, claim);
    claim.ready = this.announce(room, claim);
    return claim.ready;
  }

  /** This process holds no socket of the room any more. */
  release(room: string): void {
    const claim = this.claims.get(room);
    if (!claim) return;
    this.setSole(claim, false);
    this.claims.delete(room);
  }

  /** The subscriber connection was lost: other processes may have announced themselves unheard. */
  subscriptionLost(): void {
    for (const claim of this.claims.values()) this.notSole(claim);
  }

  get soleCount(): number {
    return this.soleRooms;
  }

  private async announce(room: string, claim: RoomClaim): Promise<void> {
    const channel = this.options.channelOf(room);
    try {
      // The adapter subscribes too (on the room's creation); this one resolves once Redis confirmed a
      // subscription to the channel (the same connection answers in order), and hears other holders.
      await this.options.subscriber.sSubscribe(channel, (raw) => this.heard(room, raw), true);
      const seen = claim.othersSeen;
      const reached = await this.options.publisher.sPublish(channel, this.options.announcement);
      this.setSole(claim, this.claims.get(room) === claim && reached === 1 && seen === claim.othersSeen);
      if (reached > 1) await this.answered(claim, reached - 1);
    } catch {
      // Unknown: the room stays published to.
    }
  }

  /** Resolved once `others` processes answered the claim, or after the wait (a leaving subscriber may not). */
  private answered(claim: RoomClaim, others: number): Promise<void> {
    if (claim.answeredBy.size >= others) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        claim.onAnswer = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.options.answerWaitMs ?? DEFAULT_ANSWER_WAIT_MS);
      claim.onAnswer = () => claim.answeredBy.size >= others && done();
    });
  }

  private heard(room: string, raw: Buffer): void {
    const own = this.options.announcement;
    if (!this.options.isAnnouncement(raw)) return;
    const message = raw.toString();
    if (message === own || message.startsWith(own + ANSWER)) return;
    const claim = this.claims.get(room);
    const answerAt = message.indexOf(ANSWER);
    if (answerAt < 0) {
      // Another process claims the room: no longer alone here (before the answer goes out), then answer.
      if (claim) this.notSole(claim);
      this.options.publisher.sPublish(this.options.channelOf(room), own + ANSWER + message).catch(() => undefined);
      return;
    }
    if (!claim) return;
    this.notSole(claim);
    if (message.slice(answerAt + ANSWER.length) !== own) return;
    claim.answeredBy.add(message.slice(0, answerAt));
    claim.onAnswer?.();
  }

  private notSole(claim: RoomClaim): void {
    claim.othersSeen++;
    this.setSole(claim, false);
  }

  private setSole(claim: RoomClaim, sole: boolean): void {
    if (claim.sole === sole) return;
    claim.sole = sole;
    this.soleRooms += sole ? 1 : -1;
    this.options.onCount?.(this.soleRooms);
  }
}
