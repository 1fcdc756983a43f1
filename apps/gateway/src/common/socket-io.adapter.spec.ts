import { createShardedAdapter } from '@socket.io/redis-adapter';
import { Encoder } from 'socket.io-parser';
import { MessageType } from 'socket.io-adapter';
import { isOwnEcho, splitUserRoomBroadcasts } from './socket-io.adapter';

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
  const nsp = { name: '/', sockets: new Map(), server: { encoder: new Encoder(), opts: {}, _opts: {} } };
  const adapter = splitUserRoomBroadcasts(
    createShardedAdapter(client, client, { subscriptionMode: 'dynamic' })(nsp as never),
    (type) => received.push(type),
    sole,
    userRooms,
  );
  return { adapter, client };
}

const roomEmit = (room: string) => ({ rooms: new Set([room]), except: new Set<string>(), flags: {} });
const packet = { type: 2, nsp: '/', data: ['dm:new', { message: { body: 'hi' } }] };

describe('GatewayIoAdapter fan-out: a process’s own publishes', () => {
  it('recognises what this adapter published, and nothing another process published', async () => {
    const ours = shardedAdapter([]);
    const theirs = shardedAdapter([]);
    await ours.adapter.broadcast(packet, roomEmit('user:a') as never);
    await theirs.adapter.broadcast(packet, roomEmit('user:a') as never);
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
    await ours.adapter.broadcast(packet, roomEmit('user:a') as never);
    await theirs.adapter.broadcast(packet, roomEmit('user:a') as never);
    const onRaw = (ours.adapter as unknown as { onRawMessage(raw: Buffer, channel: Buffer): void }).onRawMessage;
    const parse = jest.spyOn(JSON, 'parse');
    try {
      onRaw(ours.client.published[0].payload, Buffer.from(ours.client.published[0].channel));
      expect(parse).not.toHaveBeenCalled();
      onRaw(theirs.client.published[0].payload, Buffer.from(theirs.client.published[0].channel));
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
    // One encode for the two rooms here, one for the published room's local delivery.
    expect(encode).toHaveBeenCalledTimes(3);
  });
});
