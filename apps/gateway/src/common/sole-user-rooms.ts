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
}

interface RoomClaim {
  sole: boolean;
  /** Bumped by every other process heard on the room's channel, so a claim answered after one is not believed. */
  othersSeen: number;
  ready: Promise<void>;
}

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
 * other holder hears the announcement before the new socket is connected
 * and stops delivering alone at once. A room stays published to once
 * shared, until this process lets it go (its last socket of the user left)
 * and claims it again; a lost subscriber connection ends every claim so.
 */
export class SoleUserRooms {
  private readonly claims = new Map<string, RoomClaim>();
  private soleRooms = 0;

  constructor(private readonly options: SoleUserRoomsOptions) {}

  isSole(room: string): boolean {
    return this.claims.get(room)?.sole === true;
  }

  /** Claims the room (once per holding); resolved when every other holder has been told. */
  claim(room: string): Promise<void> {
    const held = this.claims.get(room);
    if (held) return held.ready;
    const claim: RoomClaim = { sole: false, othersSeen: 0, ready: Promise.resolve() };
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
    for (const claim of this.claims.values()) {
      claim.othersSeen++;
      this.setSole(claim, false);
    }
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
    } catch {
      // Unknown: the room stays published to.
    }
  }

  private heard(room: string, raw: Buffer): void {
    if (!this.options.isAnnouncement(raw) || raw.toString() === this.options.announcement) return;
    const claim = this.claims.get(room);
    if (!claim) return;
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
