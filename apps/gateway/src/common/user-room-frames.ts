import { bufferStartsWith } from './buffer-affixes';

/**
 * An emit to a user room that other gateway processes hold, as it travels on
 * the room's shard channel: the socket.io packet already encoded for the
 * wire. The sending process encodes it once for every room it publishes to;
 * a receiving process writes it to the room's sockets as it is, with no
 * envelope to parse and no second encode (the adapter's own message wraps the
 * packet object in JSON, which both sides stringify or parse, and the
 * receiver then encodes the packet again).
 *
 * Layout: a 0x01 byte (no JSON or MessagePack message of the adapter starts
 * with it, nor a process's announcement), the sending adapter's uid, 0x1f,
 * the room, 0x1f, the encoded packet. Neither a uid nor a room name of ours
 * holds a 0x1f.
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

/** Encodes, publishes, receives and writes the frames of one adapter (one namespace of this process). */
export class UserRoomFrames {
  /** What every frame of this adapter starts with: the mark, its uid and a separator. */
  private readonly ownHead: string;
  private readonly ownHeadBytes: Buffer;

  constructor(private readonly adapter: FramingAdapter) {
    this.ownHead = `${FRAME_MARK}${adapter.uid}${SEPARATOR}`;
    this.ownHeadBytes = Buffer.from(this.ownHead);
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
    if (flags.volatile || flags.compress !== undefined || flags.timeout !== undefined) return undefined;
    for (const id of opts.except ?? NO_SOCKETS) if (!this.adapter.nsp.sockets.has(id)) return undefined;
    packet.nsp = this.adapter.nsp.name;
    const encoded = this.adapter.encoder.encode(packet);
    return encoded.length === 1 && typeof encoded[0] === 'string' ? encoded[0] : undefined;
  }

  /**
   * Publishes `encoded` on the room's channel. The room's sockets held here,
   * if any, get it once Redis took the publish (or failed to), as with the
   * adapter's own publish.
   */
  publish(room: string, encoded: string, except = NO_SOCKETS): Promise<void> {
    const published = this.adapter.pubClient
      .sPublish(this.adapter.dynamicChannel(room), `${this.ownHead}${room}${SEPARATOR}${encoded}`)
      .then(
        () => undefined,
        () => undefined,
      );
    return this.adapter.rooms.has(room) ? published.then(() => this.write(room, encoded, except)) : published;
  }

  /** Writes `encoded` to the room's sockets held here (the outgoing listeners socket.io would tell are unused here). */
  write(room: string, encoded: string, except = NO_SOCKETS): void {
    this.adapter.apply({ rooms: new Set([room]), except }, (socket) => socket.client.writeToEngine([encoded], { preEncoded: true }));
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
    this.write(frame.room, frame.encodedPacket);
    return true;
  }
}

/** Whether a message on a shard channel is a frame (any process's). */
export function isUserRoomFrame(raw: Buffer): boolean {
  return raw[0] === FRAME_MARK_BYTE;
}

/** The room and packet of a frame; undefined when it is not one or is cut short. */
export function readUserRoomFrame(raw: Buffer): { room: string; encodedPacket: string } | undefined {
  if (!isUserRoomFrame(raw)) return undefined;
  const uidEnd = raw.indexOf(SEPARATOR, 1);
  const roomEnd = uidEnd < 0 ? -1 : raw.indexOf(SEPARATOR, uidEnd + 1);
  if (roomEnd < 0) return undefined;
  return { room: raw.toString('utf8', uidEnd + 1, roomEnd), encodedPacket: raw.toString('utf8', roomEnd + 1) };
}
