import { createShardedAdapter } from '@socket.io/redis-adapter';
import { Encoder } from 'socket.io-parser';
import { MessageType } from 'socket.io-adapter';
import { isOwnEcho, splitUserRoomBroadcasts } from './socket-io.adapter';
import { readUserRoomFrame } from './user-room-frames';

/** A `redis` v4 client as far as the sharded adapter uses it: publishes are kept, subscriptions ignored. */
function recordingClient() {
  const published: { channel: string; payload: Buffer }[] = [];
  return {
    published,
    sSubscribe: () => Promise.resolve(),
    sUnsubscribe: () => Promise.resolve(),
    sPublish: (channel: string, payload: string | Buffer) => {
      published.push({ channel, payload: Buffer.from(payload) });
      return Promise.resolve(0);
    },
  };
}

function shardedAdapter(
  received: unknown[],
  sole?: { isSole: boolean; isAnnouncement(raw: Buffer): boolean },
  userRooms?: { isSole(room: string): boolean },
) {
  const client = recordingClient();
  const nsp = { name: '/', sockets: new Map<string, unknown>(), server: { encoder: new Encoder(), opts: {}, _opts: {} } };
  const adapter = splitUserRoomBroadcasts(
    createShardedAdapter(client, client, { subscriptionMode: 'dynamic' })(nsp as never),
    (type) => received.push(type),
    sole,
    userRooms,
  );
  /** A socket of this process in `room` (and, as socket.io does, in a room of its id): what is written to it is kept. */
  const socketIn = (id: string, room: string) => {
    const written: string[] = [];
    nsp.sockets.set(id, { client: { writeToEngine: (packets: string[]) => written.push(...packets) } });
    (adapter as unknown as { addAll(id: string, rooms: Set<string>): void }).addAll(id, new Set([id, room]));
    return written;
  };
  const onRaw = (raw: Buffer, channel = 'socket.io#/#') =>
    (adapter as unknown as { onRawMessage(raw: Buffer, channel: Buffer): void }).onRawMessage(raw, Buffer.from(channel));
  return { adapter, client, socketIn, onRaw };
}

const roomEmit = (room: string) => ({ rooms: new Set([room]), except: new Set<string>(), flags: {} });
const packet = { type: 2, nsp: '/', data: ['dm:new', { message: { body: 'hi' } }] };

describe('GatewayIoAdapter fan-out: a process’s own publishes', () => {
  it('recognises what this adapter published, and nothing another process published', async () => {
    const ours = shardedAdapter([]);
    const theirs = shardedAdapter([]);
    await ours.adapter.broadcast(packet, roomEmit('conversation:x') as never);
    await theirs.adapter.broadcast(packet, roomEmit('conversation:x') as never);
    const [mine] = ours.client.published;
    const [other] = theirs.client.published;
    const suffix = Buffer.from(`,"uid":"${(ours.adapter as unknown as { uid: string }).uid}","nsp":"/"}`);
    expect(isOwnEcho(mine.payload, suffix)).toBe(true);
    expect(isOwnEcho(other.payload, suffix)).toBe(false);
  });

  it('drops its own echo unparsed and hands another process’s message on', async () => {
    const received: unknown[] = [];
    const ours = shardedAdapter(received);
    const theirs = shardedAdapter([]);
    await ours.adapter.broadcast(packet, roomEmit('conversation:x') as never);
    await theirs.adapter.broadcast(packet, roomEmit('conversation:x') as never);
    const parse = jest.spyOn(JSON, 'parse');
    try {
      ours.onRaw(ours.client.published[0].payload, ours.client.published[0].channel);
      expect(parse).not.toHaveBeenCalled();
      ours.onRaw(theirs.client.published[0].payload, theirs.client.published[0].channel);
      expect(parse).toHaveBeenCalledTimes(1);
    } finally {
      parse.mockRestore();
    }
    expect(received).toEqual([MessageType.BROADCAST]); // one, from the other process
  });

  it('sends an emit to two user rooms as one publish per room', async () => {
    const { adapter, client } = shardedAdapter([]);
    await adapter.broadcast(packet, { rooms: new Set(['user:a', 'user:b']), except: new Set<string>(), flags: {} } as never);
    expect(client.published.map((p) => p.channel)).toEqual(['socket.io#/#user:a#', 'socket.io#/#user:b#']);
  });

  it('publishes nothing while this is the only gateway process, and everything again once it is not', async () => {
    const sole = { isSole: true, isAnnouncement: (raw: Buffer) => raw.toString().startsWith('gateway-present:') };
    const { adapter, client } = shardedAdapter([], sole);
    await adapter.broadcast(packet, roomEmit('user:a') as never);
    await adapter.broadcast(packet, { rooms: new Set(['user:a', 'user:b']), except: new Set<string>(), flags: {} } as never);
    expect(client.published).toEqual([]);
    sole.isSole = false;
    await adapter.broadcast(packet, roomEmit('user:a') as never);
    expect(client.published.map((p) => p.channel)).toEqual(['socket.io#/#user:a#']);
  });

  it('publishes no emit for a user room that no other process holds, and every other room as before', async () => {
    const soleRooms = new Set(['user:a']);
    const { adapter, client } = shardedAdapter([], undefined, { isSole: (room) => soleRooms.has(room) });
    await adapter.broadcast(packet, roomEmit('user:a') as never);
    await adapter.broadcast(packet, { rooms: new Set(['user:a', 'user:b']), except: new Set<string>(), flags: {} } as never);
    await adapter.broadcast(packet, roomEmit('conversation:x') as never);
    expect(client.published.map((p) => p.channel)).toEqual(['socket.io#/#user:b#', 'socket.io#/#conversation:x#']);
    soleRooms.clear();
    await adapter.broadcast(packet, roomEmit('user:a') as never);
    expect(client.published.map((p) => p.channel)).toContain('socket.io#/#user:a#');
  });

  it('encodes an emit once for all the user rooms held here alone, and publishes only the others', async () => {
    const soleRooms = new Set(['user:a', 'user:b']);
    const { adapter, client } = shardedAdapter([], undefined, { isSole: (room) => soleRooms.has(room) });
    const encoder = (adapter as unknown as { encoder: Encoder }).encoder;
    const encode = jest.spyOn(encoder, 'encode');
    const emitTo = (...rooms: string[]) =>
      adapter.broadcast(packet, { rooms: new Set(rooms), except: new Set<string>(), flags: {} } as never);
    await emitTo('user:a', 'user:b');
    expect(encode).toHaveBeenCalledTimes(1);
    expect(client.published).toEqual([]);
    await emitTo('user:a', 'user:c', 'user:b');
    expect(client.published.map((p) => p.channel)).toEqual(['socket.io#/#user:c#']);
    // The same encode serves the two rooms here and the published room.
    expect(encode).toHaveBeenCalledTimes(2);
  });
});

describe('GatewayIoAdapter fan-out: user rooms elsewhere get the packet already encoded', () => {
  const dm = () => ({ type: 2, data: ['dm:new', { message: { body: 'hi' } }] });
  const wire = '2["dm:new",{"message":{"body":"hi"}}]';

  it('publishes the encoded packet, which the process holding the room writes to its socket as it is', async () => {
    const received: unknown[] = [];
    const sender = shardedAdapter([]);
    const holder = shardedAdapter(received);
    const written = holder.socketIn('s1', 'user:b');
    const elsewhere = holder.socketIn('s2', 'user:c');
    await sender.adapter.broadcast(dm(), roomEmit('user:b') as never);
    const [frame] = sender.client.published;
    expect(frame.channel).toBe('socket.io#/#user:b#');
    expect(readUserRoomFrame(frame.payload)).toEqual({ room: 'user:b', encodedPackets: [wire] });
    const parse = jest.spyOn(JSON, 'parse');
    try {
      holder.onRaw(frame.payload, frame.channel);
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
    expect(written).toEqual([wire]);
    expect(elsewhere).toEqual([]);
    expect(received).toEqual([MessageType.BROADCAST]);
  });

  it('drops its own frame, and a frame cut short', async () => {
    const received: unknown[] = [];
    const { adapter, client, socketIn, onRaw } = shardedAdapter(received);
    await adapter.broadcast(dm(), roomEmit('user:b') as never);
    const written = socketIn('s1', 'user:b');
    onRaw(client.published[0].payload, client.published[0].channel);
    onRaw(Buffer.from('\x01someone\x1fuser:b'));
    expect(written).toEqual([]);
    expect(received).toEqual([]);
  });

  it('writes to this process’s sockets of a room it shares once the frame is published, and encodes once', async () => {
    const { adapter, client, socketIn } = shardedAdapter([]);
    const written = socketIn('s1', 'user:b');
    const encode = jest.spyOn((adapter as unknown as { encoder: Encoder }).encoder, 'encode');
    await adapter.broadcast(dm(), { rooms: new Set(['user:a', 'user:b']), except: new Set<string>(), flags: {} } as never);
    expect(client.published.map((p) => readUserRoomFrame(p.payload)?.room)).toEqual(['user:a', 'user:b']);
    expect(written).toEqual([wire]);
    expect(encode).toHaveBeenCalledTimes(1);
  });

  it('leaves out a socket of this process it was told to except; the frame needs no exception', async () => {
    const soleRooms = new Set(['user:a']);
    const { adapter, client, socketIn } = shardedAdapter([], undefined, { isSole: (room) => soleRooms.has(room) });
    const sender = socketIn('s1', 'user:a');
    const otherDevice = socketIn('s2', 'user:a');
    await adapter.broadcast(dm(), { rooms: new Set(['user:a', 'user:b']), except: new Set(['s1']), flags: {} } as never);
    expect(sender).toEqual([]);
    expect(otherDevice).toEqual([wire]);
    expect(readUserRoomFrame(client.published[0].payload)).toEqual({ room: 'user:b', encodedPackets: [wire] });
  });

  it('sends a room’s emits of one turn as one frame, in order, which the holder writes in that order', async () => {
    const sender = shardedAdapter([]);
    const holder = shardedAdapter([]);
    const written = holder.socketIn('s1', 'user:b');
    const other = holder.socketIn('s2', 'user:c');
    const dmSaying = (body: string) => ({ type: 2, data: ['dm:new', { message: { body } }] });
    await Promise.all([
      sender.adapter.broadcast(dmSaying('one'), roomEmit('user:b') as never),
      sender.adapter.broadcast(dmSaying('two'), roomEmit('user:c') as never),
      sender.adapter.broadcast(dmSaying('three'), roomEmit('user:b') as never),
    ]);
    expect(sender.client.published.map((p) => readUserRoomFrame(p.payload))).toEqual([
      { room: 'user:b', encodedPackets: ['2["dm:new",{"message":{"body":"one"}}]', '2["dm:new",{"message":{"body":"three"}}]'] },
      { room: 'user:c', encodedPackets: ['2["dm:new",{"message":{"body":"two"}}]'] },
    ]);
    for (const p of sender.client.published) holder.onRaw(p.payload, p.channel);
    expect(written).toEqual(['2["dm:new",{"message":{"body":"one"}}]', '2["dm:new",{"message":{"body":"three"}}]']);
    expect(other).toEqual(['2["dm:new",{"message":{"body":"two"}}]']);
    // The next turn's emits are a frame of their own.
    await sender.adapter.broadcast(dmSaying('four'), roomEmit('user:b') as never);
    expect(sender.client.published).toHaveLength(3);
  });

  it('publishes a turn’s frames before an emit that is not one, so the room’s events keep their order', async () => {
    const { adapter, client } = shardedAdapter([]);
    const framed = adapter.broadcast(dm(), roomEmit('user:b') as never);
    const volatile = adapter.broadcast(dm(), { rooms: new Set(['user:b']), except: new Set<string>(), flags: { volatile: true } } as never);
    await Promise.all([framed, volatile]);
    expect(client.published.map((p) => readUserRoomFrame(p.payload)?.encodedPackets)).toEqual([[wire], undefined]);
  });

  it('publishes a turn’s frames before the adapter’s own requests, such as disconnecting a user’s sockets', async () => {
    const { adapter, client } = shardedAdapter([]);
    const framed = adapter.broadcast(dm(), roomEmit('user:b') as never);
    const disconnected = adapter.disconnectSockets({ rooms: new Set(['user:b']), except: new Set<string>() } as never, true);
    await Promise.all([framed, disconnected]);
    expect(client.published.map((p) => (readUserRoomFrame(p.payload) ? 'frame' : JSON.parse(p.payload.toString()).type))).toEqual([
      'frame',
      MessageType.DISCONNECT_SOCKETS,
    ]);
  });

  it('a packet that cannot split a frame: an encoded text packet escapes the separator', async () => {
    const { adapter, client } = shardedAdapter([]);
    const body = 'a\x1fb\x01c';
    await adapter.broadcast({ type: 2, data: ['dm:new', { message: { body } }] }, roomEmit('user:b') as never);
    const frame = readUserRoomFrame(client.published[0].payload)!;
    expect(frame.encodedPackets).toHaveLength(1);
    expect(JSON.parse(frame.encodedPackets[0].slice(1))).toEqual(['dm:new', { message: { body } }]);
  });

  it('sends an emit excepting a socket it does not hold, volatile, or with binary data as the adapter’s own message', async () => {
    const { adapter, client } = shardedAdapter([]);
    const binary = { type: 2, data: ['media:blob', Buffer.from([1, 2, 3])] };
    await adapter.broadcast(dm(), { rooms: new Set(['user:b']), except: new Set(['s9']), flags: {} } as never);
    await adapter.broadcast(dm(), { rooms: new Set(['user:b']), except: new Set<string>(), flags: { volatile: true } } as never);
    await adapter.broadcast(binary, roomEmit('user:b') as never);
    expect(client.published.map((p) => p.channel)).toEqual(['socket.io#/#user:b#', 'socket.io#/#user:b#', 'socket.io#/#user:b#']);
    expect(client.published.map((p) => readUserRoomFrame(p.payload))).toEqual([undefined, undefined, undefined]);
  });
});
