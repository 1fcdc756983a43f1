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
const FRAME_MARK = 0x01;
const SEPARATOR = 0x1f;

export interface UserRoomFrame {
  room: string;
  encodedPacket: string;
}

/** The frame that carries `encodedPacket` to `room`'s sockets on other processes. */
export function userRoomFrame(uid: string, room: string, encodedPacket: string): string {
  return `\x01${uid}\x1f${room}\x1f${encodedPacket}`;
}

/** Whether a message on a shard channel is a frame (any process's). */
export function isUserRoomFrame(raw: Buffer): boolean {
  return raw[0] === FRAME_MARK;
}

/** What a frame starts with when adapter `uid` published it: its own echo is dropped unread. */
export function framePrefixOf(uid: string): Buffer {
  return Buffer.from(`\x01${uid}\x1f`);
}

/** The room and packet of a frame; undefined when it is not one or is cut short. */
export function readUserRoomFrame(raw: Buffer): UserRoomFrame | undefined {
  if (!isUserRoomFrame(raw)) return undefined;
  const uidEnd = raw.indexOf(SEPARATOR, 1);
  const roomEnd = uidEnd < 0 ? -1 : raw.indexOf(SEPARATOR, uidEnd + 1);
  if (roomEnd < 0) return undefined;
  return { room: raw.toString('utf8', uidEnd + 1, roomEnd), encodedPacket: raw.toString('utf8', roomEnd + 1) };
}

/** Whether `raw` begins with `prefix` (framePrefixOf). */
export function startsWith(raw: Buffer, prefix: Buffer): boolean {
  return raw.length >= prefix.length && raw.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}
