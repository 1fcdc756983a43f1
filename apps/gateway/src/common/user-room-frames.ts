import { bufferStartsWith } from './buffer-affixes';

/**
 * Emits to a user room that other gateway processes hold, as they travel on
 * the room's shard channel: the socket.io packets already encoded for the
 * wire. The sending process encodes each once for every room it publishes
 * to; a receiving process writes them to the room's sockets as they are,
 * with no envelope to parse and no second encode (the adapter's own message
 * wraps the packet object in JSON, which both sides stringify or parse, and
 * the receiver then encodes the packet again).
 *
 * The packets for one room in one turn of the event loop travel in one
 * frame, in the order they were emitted: a batch of DMs committed together
 * costs one publish per recipient, not one per DM, and the receiving
 * process one message from Redis.
 *
 * Layout: a 0x01 byte (no JSON or MessagePack message of the adapter starts
 * with it, nor a process's announcement), the sending adapter's uid, 0x1f,
 * the room, 0x1f, then the encoded packets separated by 0x1f. Neither a uid
 * nor a room name of ours holds a 0x1f, nor does an encoded text packet (its
 * JSON escapes control characters) of a namespace whose name has none.
 */
const FRAME_MARK = '\x01';
const SEPARATOR = '\x1f';
const FRAME_MARK_BYTE = FRAME_MARK.charCodeAt(0);

/** The parts of the sharded adapter (and its in-memory base) frames use beyond its typed API. */
export interface FramingAdapter {
  uid: string;
  nsp: { name: string; sockets: Map<string, unknown> };
  rooms: Map<string, Set<string>>;
  encoder: { encode(packet: unknown): unknown[] };
  pubClient: { sPublish(channel: string, message: string): Promise<unknown> };
  dynamicChannel(room: string): string;
  apply(opts: { rooms: Set<string>; except: Set<string> }, callback: (socket: EncodedPacketWriter) => void): void;
}

/** A socket as the in-memory adapter writes to it: already encoded packets, straight to its connection. */
interface EncodedPacketWriter {
  client: { writeToEngine(encodedPackets: string[], opts: { preEncoded: boolean }): void };
}

/** What an emit says beyond its rooms (socket.io's broadcast options). */
export interface EmitOptions {
  except?: Set<string>;
  flags?: { volatile?: boolean; compress?: boolean; timeout?: number };
}

const NO_SOCKETS = new Set<string>();

/** A room's packets published together at the end of this turn, each with the sockets here it skips. */
interface PendingFrame {
  packets: string[];
  excepts: Set<string>[];
  /** Settled once the frame was published and written to the room's sockets here. */
  done: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

/** Encodes, publishes, receives and writes the frames of one adapter (one namespace of this process). */
export class UserRoomFrames {
  /** What every frame of this adapter starts with: the mark, its uid and a separator. */
  private readonly ownHead: string;
  private readonly ownHeadBytes: Buffer;
  /** False for a namespace whose name could split a frame: its emits go as the adapter's own messages. */
  private readonly canFrame: boolean;
  /** Rooms with packets to publish at the end of this turn, in the order of their first packet. */
  private pending = new Map<string, PendingFrame>();
  private readonly flushThisTurn = () => this.flush();

  constructor(private readonly adapter: FramingAdapter) {
    this.ownHead = `${FRAME_MARK}${adapter.uid}${SEPARATOR}`;
    this.ownHeadBytes = Buffer.from(this.ownHead);
    this.canFrame = !adapter.nsp.name.includes(SEPARATOR);
  }

  /**
   * The packet as one text frame for the wire, or undefined when a frame
   * cannot carry the emit: binary attachments, a volatile, compress or
   * timeout flag, or an exception of a socket this process does not hold
   * (a DM's copies skip the socket that sent it, always one of the sending
   * process: no other process holds it, so the frame needs no exception).
   */
  encode(packet: { nsp?: string }, opts: EmitOptions): string | undefined {
    const flags = opts.flags ?? {};
    if (!this.canFrame || flags.volatile || flags.compress !== undefined || flags.timeout !== undefined) return undefined;
    for (const id of opts.except ?? NO_SOCKETS) if (!this.adapter.nsp.sockets.has(id)) return undefined;
    packet.nsp = this.adapter.nsp.name;
    const encoded = this.adapter.encoder.encode(packet);
    return encoded.length === 1 && typeof encoded[0] === 'string' ? encoded[0] : undefined;
  }

  /**
   * Publishes `encoded` on the room's channel, with the room's other packets
   * of this turn. The room's sockets held here, if any, get it once Redis
   * took the publish (or failed to), as with the adapter's own publish.
   */
  publish(room: string, encoded: string, except = NO_SOCKETS): Promise<void> {
    let frame = this.pending.get(room);
    if (!frame) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      frame = { packets: [], excepts: [], done, resolve, reject };
      if (this.pending.size === 0) process.nextTick(this.flushThisTurn);
      this.pending.set(room, frame);
    }
    frame.packets.push(encoded);
    frame.excepts.push(except);
    return frame.done;
  }

  /**
   * Publishes the packets waiting for the end of this turn, one frame per
   * room. Called then, and before the adapter publishes anything of its own,
   * so a room's events reach Redis in the order they were emitted.
   */
  flush(): void {
    if (this.pending.size === 0) return;
    const rooms = this.pending;
    this.pending = new Map();
    for (const [room, frame] of rooms) this.publishFrame(room, frame).then(frame.resolve, frame.reject);
  }

  private async publishFrame(room: string, frame: PendingFrame): Promise<void> {
    try {
      const payload = `${this.ownHead}${room}${SEPARATOR}${frame.packets.join(SEPARATOR)}`;
      await this.adapter.pubClient.sPublish(this.adapter.dynamicChannel(room), payload);
    } catch {
      // Lost for the other processes, as the adapter's own publish would be; the sockets here still get it.
    }
    if (!this.adapter.rooms.has(room)) return;
    frame.packets.forEach((packet, i) => this.write([room], [packet], frame.excepts[i]));
  }

  /**
   * Writes encoded packets to the rooms' sockets held here, once to each
   * socket (the outgoing listeners socket.io would tell are unused here).
   */
  write(rooms: string[], encodedPackets: string[], except = NO_SOCKETS): void {
    this.adapter.apply({ rooms: new Set(rooms), except }, (socket) => socket.client.writeToEngine(encodedPackets, { preEncoded: true }));
  }

  /**
   * Writes another process's frame to its room's sockets held here: true
   * when it was one; false for this process's own echo and for anything
   * else (a frame cut short, a message that is not a frame).
   */
  receive(raw: Buffer): boolean {
    if (bufferStartsWith(raw, this.ownHeadBytes)) return false;
    const frame = readUserRoomFrame(raw);
    if (!frame) return false;
    this.write([frame.room], frame.encodedPackets);
    return true;
  }
}

/** Whether a message on a shard channel is a frame (any process's). */
export function isUserRoomFrame(raw: Buffer): boolean {
  return raw[0] === FRAME_MARK_BYTE;
}

/** The room and packets of a frame; undefined when it is not one or is cut short. */
export function readUserRoomFrame(raw: Buffer): { room: string; encodedPackets: string[] } | undefined {
  if (!isUserRoomFrame(raw)) return undefined;
  const uidEnd = raw.indexOf(SEPARATOR, 1);
  const roomEnd = uidEnd < 0 ? -1 : raw.indexOf(SEPARATOR, uidEnd + 1);
  if (roomEnd < 0) return undefined;
  return { room: raw.toString('utf8', uidEnd + 1, roomEnd), encodedPackets: raw.toString('utf8', roomEnd + 1).split(SEPARATOR) };
}
