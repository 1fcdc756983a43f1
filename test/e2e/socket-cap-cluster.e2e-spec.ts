import { createClient } from 'redis';
import { io, Socket } from 'socket.io-client';
import { SocialClient } from '@app/client';
import { createTestDatabase, spawnGateway, SpawnedGateway, TestDatabase, uniqueHandle, sleep } from '@app/testing';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CAP = 3;
const LEASE_MS = 1_500;

interface Outcome {
  socket: Socket;
  refused?: string;
  data?: unknown;
}

/** A bare socket.io connection: resolves connected, or with the handshake's refusal. */
function rawConnect(url: string, token: string): Promise<Outcome> {
  const socket = io(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ socket }));
    socket.once('connect_error', (err: Error & { data?: unknown }) => {
      socket.close();
      resolve({ socket, refused: err.message, data: err.data });
    });
  });
}

/** Connects until admitted: a place is given back by the server a moment after the client sees its socket close. */
async function connectOnceFree(url: string, token: string, timeoutMs: number): Promise<Outcome> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const outcome = await rawConnect(url, token);
    if (!outcome.refused) return outcome;
    expect(outcome.refused).toBe('TOO_MANY_CONNECTIONS');
    if (Date.now() > deadline) return outcome;
    await sleep(100);
  }
}

/**
 * MAX_SOCKETS_PER_USER across two gateway processes sharing Redis: the cap
 * holds exactly under handshakes racing on both, and the places of a killed
 * process come back after their lease.
 */
describe('the per-user socket cap across two gateway processes', () => {
  let db: TestDatabase;
  let one: SpawnedGateway;
  let two: SpawnedGateway;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    const env = { NODE_ROLE: 'gateway', REDIS_URL, MAX_SOCKETS_PER_USER: String(CAP), SOCKET_PLACE_LEASE_MS: String(LEASE_MS) };
    [one, two] = await Promise.all([spawnGateway(db.url, env), spawnGateway(db.url, env)]);
  }, 120_000);
  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const g of [one, two]) await g?.stop();
    await db?.drop();
  });

  async function burst(token: string, count: number): Promise<Outcome[]> {
    const outcomes = await Promise.all(Array.from({ length: count }, (_, i) => rawConnect(i % 2 ? two.url : one.url, token)));
    outcomes.forEach((o) => sockets.push(o.socket));
    return outcomes;
  }

  it('admits exactly the cap from concurrent handshakes split over both processes, and a freed place is taken again', async () => {
    const user = await SocialClient.login(one.url, uniqueHandle('capc'));
    const outcomes = await burst(user.token, 20);
    const admitted = outcomes.filter((o) => !o.refused);
    expect(admitted).toHaveLength(CAP);
    for (const o of outcomes.filter((x) => x.refused)) {
      expect(o.refused).toBe('TOO_MANY_CONNECTIONS');
      expect(o.data).toEqual({ code: 'TOO_MANY_CONNECTIONS', max: CAP });
    }
    // Full on both processes.
    for (const url of [one.url, two.url]) expect((await rawConnect(url, user.token)).refused).toBe('TOO_MANY_CONNECTIONS');

    admitted[0].socket.disconnect();
    const again = await connectOnceFree(two.url, user.token, 10_000);
    sockets.push(again.socket);
    expect(again.refused).toBeUndefined();
    expect((await rawConnect(one.url, user.token)).refused).toBe('TOO_MANY_CONNECTIONS');
  });

  it('holds the cap in every one of several races, each of a new user', async () => {
    for (let round = 0; round < 4; round++) {
      const user = await SocialClient.login(round % 2 ? one.url : two.url, uniqueHandle(`capr${round}`));
      const outcomes = await burst(user.token, 12);
      expect(outcomes.filter((o) => !o.refused)).toHaveLength(CAP);
    }
  });

  it("gives a killed process's places back within the lease", async () => {
    const user = await SocialClient.login(one.url, uniqueHandle('capk'));
    const onTwo: Outcome[] = [];
    for (let i = 0; i < CAP; i++) onTwo.push(await rawConnect(two.url, user.token));
    onTwo.forEach((o) => sockets.push(o.socket));
    expect(onTwo.every((o) => !o.refused)).toBe(true);
    expect((await rawConnect(one.url, user.token)).refused).toBe('TOO_MANY_CONNECTIONS');

    await two.kill();
    // Nothing was given back: the places return when their leases run out, not renewed by anyone.
    const held: Outcome[] = [];
    for (let i = 0; i < CAP; i++) held.push(await connectOnceFree(one.url, user.token, LEASE_MS * 6));
    held.forEach((o) => sockets.push(o.socket));
    expect(held.every((o) => !o.refused)).toBe(true);
    expect((await rawConnect(one.url, user.token)).refused).toBe('TOO_MANY_CONNECTIONS');
  });

  it('a process stopped gracefully (SIGTERM) gives its places back at once, not after the lease', async () => {
    const user = await SocialClient.login(one.url, uniqueHandle('caps'));
    for (let i = 0; i < 2; i++) {
      const o = await rawConnect(one.url, user.token);
      sockets.push(o.socket);
      expect(o.refused).toBeUndefined();
    }
    const redis = createClient({ url: REDIS_URL });
    await redis.connect();
    try {
      const placesOf = async () => (await redis.keys(`sockets:*:user:${user.id}`)).length;
      expect(await placesOf()).toBe(1);
      expect(await one.stop()).toBe(0);
      expect(await placesOf()).toBe(0);
    } finally {
      await redis.quit();
    }
  });
});
