import crypto from 'node:crypto';
import { befriend, SocialClient } from '@app/client';
import { startTestGateway, TestGateway, uniqueHandle } from '@app/testing';
import { runFuzzCampaign } from './support/fuzz-campaign';
import { fuzzSeed, SeededRandom } from '../support/seeded-random';

/**
 * Replay a failure with FUZZ_SEED=<seed printed in the failure>; FUZZ_ROUNDS
 * and FUZZ_HTTP_CASES change the size, FUZZ_PROGRESS=1 prints progress.
 */
describe('bad input: seeded fuzzing of every socket event and HTTP route', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startTestGateway({
      env: {
        DM_RATE_PER_SEC: '200',
        DM_RATE_BURST: '200',
        EVENT_RATE_SCALE: '100',
        // The fuzzer's own HTTP volume is far above a user's; it is meant to reach the routes, not the limit.
        HTTP_USER_RATE_PER_SEC: '100000',
        HTTP_USER_RATE_BURST: '100000',
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it("answers thousands of bad payloads with protocol errors, leaks nothing, changes no one else's rows", async () => {
    const report = await runFuzzCampaign(gw, {
      seed: fuzzSeed(20261125),
      socketCasesPerEvent: Number(process.env.FUZZ_ROUNDS ?? 100),
      httpCases: Number(process.env.FUZZ_HTTP_CASES ?? 800),
    });
    expect(report.failures).toEqual([]);
    expect(report.socketCases + report.httpCases).toBeGreaterThanOrEqual(Number(process.env.FUZZ_ROUNDS ?? 100) * 16);
    expect(report.victimRowsUnchanged).toBe(true);
    expect(report.healthyAfter).toBe(true);
    // The fuzzer got past validation into authorisation and state checks.
    expect(Object.keys(report.answers)).toEqual(expect.arrayContaining(['ok', 'VALIDATION_FAILED', 'NOT_FOUND']));
  }, 600_000);

  it('numbers at and past their columns, hand-made sync cursors, and media:join / call:accept { join } payloads: never INTERNAL', async () => {
    const rng = new SeededRandom(fuzzSeed(20261202));
    const cases = Number(process.env.FUZZ_ROUNDS ?? 100);
    const values = new BoundValues(rng);
    const [caller, callee] = await Promise.all(
      ['bcaller', 'bcallee'].map(async (p) => (await SocialClient.login(gw.url, uniqueHandle(p))).connect({ syncOnConnect: false })),
    );
    const failures: string[] = [];
    const answers: Record<string, number> = {};
    try {
      await befriend(caller, callee);
      const { message } = await caller.request('dm:send', { to: callee.id, clientMsgId: crypto.randomUUID(), body: 'bounds' });
      const conversationId = message.conversationId;
      // A ringing call, so call:accept and media:join reach past the call lookup when their payload passes.
      const incoming = callee.waitFor('call:incoming', () => true, 10_000);
      const { call } = await caller.request('call:invite', { to: callee.id });
      await incoming;
      const ids = { conversationId, callId: call.id };

      const socketCases: [SocialClient, string, () => unknown][] = [
        [caller, 'dm:read', () => ({ conversationId: values.id(ids.conversationId), upToSeq: values.number() })],
        [
          caller,
          'dm:history',
          () => ({ conversationId: values.id(ids.conversationId), beforeSeq: values.number(), limit: values.number() }),
        ],
        [caller, 'dm:sync', () => values.maybe({ afterCursor: values.cursor(ids.conversationId), limit: values.number() })],
        [callee, 'call:accept', () => ({ callId: values.id(ids.callId), join: values.joinOptions() })],
        [caller, 'media:join', () => ({ callId: values.id(ids.callId), ...(values.joinOptions() as object) })],
        [callee, 'media:join', () => ({ callId: values.id(ids.callId), ...(values.joinOptions() as object) })],
        [
          caller,
          'media:produce',
          () => ({ transportId: values.id(crypto.randomUUID()), kind: rng.pick(['audio', 'video', 'x']), rtpParameters: values.json() }),
        ],
        [
          caller,
          'media:connect-transport',
          () => ({ transportId: values.id(crypto.randomUUID()), dtlsParameters: values.json(), port: values.number() }),
        ],
      ];
      for (let round = 0; round < cases; round++) {
        for (const [client, event, payload] of socketCases) {
          const body = values.fitting(payload);
          const label = `${event} ${JSON.stringify(body).slice(0, 300)}`;
          let ack: any;
          try {
            ack = await client.rawRequest(event, body, 10_000);
          } catch (err) {
            failures.push(`no answer to ${label}: ${(err as Error).message}`);
            continue;
          }
          const outcome = ack.ok ? 'ok' : ack.error.code;
          answers[`${event} ${outcome}`] = (answers[`${event} ${outcome}`] ?? 0) + 1;
          if (outcome === 'INTERNAL') failures.push(`INTERNAL for ${label}`);
        }
        const query = `beforeSeq=${encodeURIComponent(String(values.number()))}&limit=${encodeURIComponent(String(values.number()))}`;
        for (const path of [
          `/conversations/${conversationId}/messages?${query}`,
          `/calls?limit=${encodeURIComponent(String(values.number()))}`,
        ]) {
          const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${caller.token}` } });
          const text = await res.text();
          answers[`HTTP ${res.status}`] = (answers[`HTTP ${res.status}`] ?? 0) + 1;
          if (res.status >= 500) failures.push(`HTTP ${res.status} for GET ${path}: ${text.slice(0, 200)}`);
        }
        if (!caller.connected || !callee.connected) failures.push(`a socket was closed in round ${round}`);
        if (failures.length > 20) break;
      }
      if (process.env.FUZZ_PROGRESS) process.stderr.write(JSON.stringify(answers, null, 1) + '\n');
      expect(failures).toEqual([]);
      // The bounds were met from both sides: refused past them, served within them.
      expect(answers['dm:read VALIDATION_FAILED']).toBeGreaterThan(0);
      expect(answers['dm:read ok']).toBeGreaterThan(0);
      expect(answers['dm:sync VALIDATION_FAILED']).toBeGreaterThan(0);
      expect(answers['dm:sync ok']).toBeGreaterThan(0);
      expect(answers['media:join VALIDATION_FAILED']).toBeGreaterThan(0);
      expect(answers['call:accept VALIDATION_FAILED']).toBeGreaterThan(0);
      expect((await fetch(`${gw.url}/health`)).status).toBe(200);
    } finally {
      caller.disconnect();
      callee.disconnect();
    }
  }, 600_000);
});

/** Seeded values aimed at the contract's bounds: integer columns, cursor formats, media JSON depth and size. */
class BoundValues {
  constructor(private readonly rng: SeededRandom) {}

  /** Integers around every bound that matters, and what JSON can carry that is no integer. */
  number(): unknown {
    if (this.rng.chance(0.5)) return this.rng.int(1, 50);
    return this.rng.pick([
      () => this.rng.int(0, 200),
      () => 2 ** 31 - 1,
      () => 2 ** 31,
      () => 3e9,
      () => 2 ** 32 + 1,
      () => 2 ** 53,
      () => Number.MAX_SAFE_INTEGER,
      () => 1e308,
      () => -1,
      () => -(2 ** 31) - 1,
      () => 1.5,
      () => '3000000000',
      () => '1e10',
      () => null,
      () => [1],
      () => ({ n: 1 }),
    ])();
  }

  /** Mostly the real id, sometimes another one or no id at all. */
  id(real: string): unknown {
    return this.rng.pick([real, real, real, crypto.randomUUID(), real.toUpperCase(), 'not-an-id', '', 42, null]);
  }

  /** Sync cursors: both formats, each with numbers in and out of range, and things that are no cursor. */
  cursor(conversationId: string): unknown {
    const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
    return this.rng.pick([
      () => b64({ v: 2, p: this.number() }),
      () => b64({ v: 1, s: { [conversationId]: this.number() } }),
      () =>
        b64({ v: 1, s: Object.fromEntries(Array.from({ length: this.rng.int(0, 300) }, () => [crypto.randomUUID(), this.rng.int(0, 5)])) }),
      () => b64({ v: this.number(), p: 1 }),
      () => b64({ v: 2, p: 1, extra: 'x'.repeat(this.rng.int(0, 5000)) }),
      () => b64('not json'),
      () => b64(this.json()),
      () => 'x'.repeat(this.rng.int(0, 20_000)),
      () => this.number(),
      () => undefined,
    ])();
  }

  /** Nested objects and arrays: deep, wide, long strings, odd keys. */
  json(depth = 0): unknown {
    const nest = (d: number): unknown => (d === 0 ? 1 : this.rng.chance(0.5) ? { a: nest(d - 1) } : [nest(d - 1)]);
    return this.rng.pick([
      () => nest(this.rng.int(1, 300)),
      () => ({ codecs: Array.from({ length: this.rng.int(0, 2000) }, () => ({ mimeType: 'audio/opus', payloadType: this.number() })) }),
      () => ({ encodings: [{ ssrc: this.number() }], codecs: [{ mimeType: 'video/VP8', clockRate: 90000, payloadType: 101 }] }),
      () => ({ fingerprints: [{ algorithm: 'sha-256', value: 'x'.repeat(this.rng.int(0, 40_000)) }], role: 'client' }),
      () => ({ ['__proto__']: { polluted: true }, constructor: { prototype: {} } }),
      () => ({ headerExtensions: depth < 2 ? [this.json(depth + 1)] : [] }),
      () => [],
      () => 'text',
      () => null,
      () => this.number(),
    ])();
  }

  /** `media:join`'s options (and `call:accept`'s join): mostly well formed, each part sometimes wrong. */
  joinOptions(): unknown {
    const valid = () => this.rng.chance(0.7);
    const transport = () =>
      this.maybe({
        type: valid() ? this.rng.pick(['webrtc', 'plain']) : this.rng.pick(['tcp', 7]),
        rtcpMux: valid() ? this.rng.pick([true, false]) : 'yes',
        ip: valid()
          ? this.rng.pick([undefined, '127.0.0.1'])
          : this.rng.pick(['127.0.0.3', '::1', '10.0.0.1', '999.1.1.1', 'x'.repeat(300)]),
        port: valid() ? this.rng.pick([undefined, this.rng.int(1024, 65535)]) : this.rng.pick([this.number(), 0, 65536]),
        produce: valid()
          ? this.rng.pick([undefined, [{ kind: 'audio', rtpParameters: { codecs: [], encodings: [] } }]])
          : this.rng.pick([
              [{ kind: 'audio', rtpParameters: this.json() }],
              [
                { kind: 'audio', rtpParameters: { codecs: [] } },
                { kind: 'audio', rtpParameters: {} },
              ],
              Array.from({ length: this.rng.int(3, 50) }, () => ({ kind: 'video', rtpParameters: {} })),
              'all',
            ]),
      });
    return this.maybe({
      rtpCapabilities: valid() ? this.rng.pick([undefined, { codecs: [] }]) : this.json(),
      send: valid() ? this.rng.pick([undefined, transport()]) : transport(),
      recv: valid() ? this.rng.pick([undefined, transport()]) : transport(),
    });
  }

  /** The object, or the object with a field dropped, or something that is no object at all. */
  maybe(value: Record<string, unknown>): unknown {
    if (this.rng.chance(0.1)) return this.rng.pick([null, [], 'x', 1]);
    if (this.rng.chance(0.2)) {
      const keys = Object.keys(value);
      const copy = { ...value };
      delete copy[this.rng.pick(keys)];
      return copy;
    }
    return value;
  }

  /** A payload that fits one socket frame (a larger one closes the socket by design, which is not what is tested here). */
  fitting(make: () => unknown): unknown {
    for (let i = 0; i < 10; i++) {
      const payload = make();
      if (Buffer.byteLength(JSON.stringify(payload ?? null)) < 48 * 1024) return payload;
    }
    return {};
  }
}
