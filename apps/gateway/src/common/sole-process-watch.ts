import { bufferStartsWith } from './buffer-affixes';

/** The part of a `redis` v4 client the watch uses (the adapter's publishing connection). */
export interface SolePublisher {
  sPublish(channel: string, message: string): Promise<number>;
  sendCommand(args: string[]): Promise<unknown>;
}

export interface SoleProcessWatchOptions {
  publisher: SolePublisher;
  /** The namespace's shard channel, which every gateway process of the service subscribes to. */
  channel: string;
  /** An id of this process, unique among the service's processes (what its own announcements carry). */
  uid: string;
  /** How often the process announces itself and counts the channel's subscribers again. */
  recheckMs: number;
  onChange?: (sole: boolean) => void;
}

/** An announcement on the namespace channel; never a socket.io message (those are JSON or MessagePack maps). */
const ANNOUNCEMENT_PREFIX = 'gateway-present:';

/**
 * Whether this is the only gateway process of its service on Redis. While
 * it is, an emit has nobody to reach through Redis and is delivered here
 * only: a one-process deployment on Redis then pays no publish (nor the
 * echo of it) per push.
 *
 * Every process announces itself on the namespace channel when it starts
 * (before it takes sockets) and again every `recheckMs`. Another process's
 * announcement ends sole delivery at once. A process counts the channel's
 * subscribers only after hearing its own announcement back (so it is
 * subscribed itself), and believes the count of one only if no other
 * process announced itself while it counted. A process that left is
 * noticed at the next count; a lost subscriber connection ends sole
 * delivery until the next own announcement is heard again.
 */
export class SoleProcessWatch {
  private sole = false;
  /** Bumped by every sign of another process, so a count begun before it is not believed. */
  private othersSeen = 0;
  private awaitingOwnAnnouncement = false;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly prefix: Buffer;
  private readonly own: string;

  constructor(private readonly options: SoleProcessWatchOptions) {
    this.prefix = Buffer.from(ANNOUNCEMENT_PREFIX);
    this.own = `${ANNOUNCEMENT_PREFIX}${options.uid}`;
  }

  get isSole(): boolean {
    return this.sole;
  }

  /** What this process announces (user rooms announce it too: SoleUserRooms). */
  get announcement(): string {
    return this.own;
  }

  get channel(): string {
    return this.options.channel;
  }

  /** Whether a message of the namespace channel is an announcement (not for the socket.io adapter). */
  isAnnouncement(raw: Buffer): boolean {
    return bufferStartsWith(raw, this.prefix, true);
  }

  /** Announces this process (resolved once Redis has passed it on) and keeps checking. */
  async start(): Promise<void> {
    await this.recheck();
    this.timer = setInterval(() => void this.recheck(), this.options.recheckMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.set(false);
  }

  /** A message of the namespace channel (announcements are acted on, anything else ignored). */
  onMessage(raw: Buffer): void {
    if (!this.isAnnouncement(raw)) return;
    if (raw.toString() !== this.own) {
      this.othersSeen++;
      this.set(false);
    } else if (this.awaitingOwnAnnouncement) {
      this.awaitingOwnAnnouncement = false;
      void this.count();
    }
  }

  /** The subscriber connection was lost: announcements may have been missed while it was away. */
  subscriptionLost(): void {
    this.othersSeen++;
    this.set(false);
  }

  /** Announces this process; hearing the announcement back starts a count. */
  async recheck(): Promise<void> {
    if (this.stopped) return;
    this.awaitingOwnAnnouncement = true;
    try {
      await this.options.publisher.sPublish(this.options.channel, this.own);
    } catch {
      this.set(false);
    }
  }

  private async count(): Promise<void> {
    const seen = this.othersSeen;
    let subscribers = NaN;
    try {
      const reply = (await this.options.publisher.sendCommand(['PUBSUB', 'SHARDNUMSUB', this.options.channel])) as unknown[];
      subscribers = Number(reply[1]);
    } catch {
      // Unknown: not sole.
    }
    this.set(!this.stopped && subscribers === 1 && seen === this.othersSeen);
  }

  private set(sole: boolean): void {
    if (sole === this.sole) return;
    this.sole = sole;
    this.options.onChange?.(sole);
  }
}
