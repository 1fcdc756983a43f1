import { SeededRandom } from '../../support/seeded-random';

/** Ids the fuzzer aims at: its own, other users', made up. */
export interface FuzzTargets {
  ownUserId: string;
  otherUserIds: string[];
  otherConversationIds: string[];
  otherCallIds: string[];
  ownIds: string[];
  /** Tokens of the others (never to be accepted for the attacker's socket) and the attacker's own. */
  otherTokens?: string[];
  ownToken?: string;
}

const SHORT_STRINGS = [
  '',
  ' ',
  'null',
  'undefined',
  '0',
  '-1',
  'NaN',
  'true',
  '{}',
  '[]',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff\ud800',
  '😀',
  '👨‍👩‍👧‍👦',
  'e\u0301',
  '\u202eevil',
  "'; DROP TABLE messages; --",
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '%00',
  '%',
  '${jndi:ldap://x}',
  '__proto__',
  'constructor',
  'audio',
  'video',
  'send',
  'recv',
  'plain',
  'webrtc',
  '127.0.0.1',
  '::1',
  '999.1.1.1',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  'not-a-uuid',
];

const NUMBERS = [0, -0, 1, -1, 0.5, 2 ** 31 - 1, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e308, 5e-324, 65535, 65536, 4000, 4001, 100, 101];

export class FuzzValues {
  constructor(
    private readonly rng: SeededRandom,
    private readonly targets: FuzzTargets,
  ) {}

  /** An id worth trying: someone else's, one's own, random, or malformed. */
  id(): unknown {
    const r = this.rng;
    switch (r.int(0, 7)) {
      case 7:
        // Someone else's id spelt in upper case: must name the same thing, not slip past checks.
        return String(
          r.pick([...this.targets.otherUserIds, ...this.targets.otherConversationIds, ...this.targets.otherCallIds]),
        ).toUpperCase();
      case 0:
        return r.pick(this.targets.otherUserIds);
      case 1:
        return r.pick(this.targets.otherConversationIds.length ? this.targets.otherConversationIds : [r.uuid()]);
      case 2:
        return r.pick(this.targets.otherCallIds.length ? this.targets.otherCallIds : [r.uuid()]);
      case 3:
        return r.pick(this.targets.ownIds);
      case 4:
        return r.uuid();
      case 5:
        return r.uuid().toUpperCase();
      default:
        return this.any(2);
    }
  }

  string(): string {
    const r = this.rng;
    switch (r.int(0, 5)) {
      case 0:
        return r.pick(SHORT_STRINGS);
      case 1:
        return 'x'.repeat(r.pick([1, 3, 32, 33, 64, 65, 4000, 4001, 10_000, 40_000]));
      case 2:
        return '😀'.repeat(r.pick([1, 2000, 4000, 4001]));
      case 3:
        return Array.from({ length: r.int(1, 200) }, () => String.fromCharCode(r.int(0, 0xffff))).join('');
      case 4:
        return r.uuid();
      default:
        return r.pick(SHORT_STRINGS) + r.pick(SHORT_STRINGS);
    }
  }

  number(): number {
    return this.rng.chance(0.7) ? this.rng.pick(NUMBERS) : (this.rng.next() - 0.5) * 10 ** this.rng.int(0, 20);
  }

  /** Nested arrays/objects `depth` levels deep. */
  deep(depth: number): unknown {
    let v: unknown = this.rng.chance(0.5) ? 1 : 'x';
    for (let i = 0; i < depth; i++) v = this.rng.chance(0.5) ? [v] : { a: v };
    return v;
  }

  /** Any JSON-able value (and undefined). */
  any(budget = 3): unknown {
    const r = this.rng;
    switch (r.int(0, budget > 0 ? 10 : 6)) {
      case 0:
        return null;
      case 1:
        return undefined;
      case 2:
        return r.chance(0.5);
      case 3:
        return this.number();
      case 4:
      case 5:
        return this.string();
      case 6:
        return this.id();
      case 7:
        return Array.from({ length: r.int(0, 5) }, () => this.any(budget - 1));
      case 8:
        return Object.fromEntries(Array.from({ length: r.int(0, 5) }, () => [this.string().slice(0, 40), this.any(budget - 1)]));
      case 9:
        return this.deep(r.pick([10, 100, 1000, 3000]));
      default:
        // Own keys named __proto__/constructor, as JSON.parse makes them.
        return JSON.parse('{"__proto__":{"admin":true},"constructor":{"prototype":{"polluted":1}}}');
    }
  }

  /** Valid-looking values for each payload field name the protocol uses. */
  field(name: string): unknown {
    const r = this.rng;
    if (r.chance(0.35)) return this.any();
    switch (name) {
      case 'to':
      case 'callId':
      case 'conversationId':
      case 'transportId':
      case 'producerId':
      case 'consumerId':
        return this.id();
      case 'clientMsgId':
        return r.chance(0.8) ? r.uuid() : this.any();
      case 'body':
        return this.string();
      case 'beforeSeq':
      case 'upToSeq':
      case 'limit':
      case 'port':
      case 'rtcpPort':
        return r.chance(0.5) ? r.int(-2, 70000) : this.number();
      case 'media':
      case 'kind':
        return r.pick(['audio', 'video', 'AUDIO', 'screen', '']);
      case 'direction':
        return r.pick(['send', 'recv', 'both', '']);
      case 'type':
        return r.pick(['plain', 'webrtc', 'sctp', '']);
      case 'ip':
        return r.pick(['127.0.0.1', '0.0.0.0', '::1', '8.8.8.8', '255.255.255.255', 'localhost', '']);
      case 'token':
        return this.token();
      case 'cursor':
      case 'afterCursor':
        return r.chance(0.5) ? Buffer.from(JSON.stringify(this.any(1)) ?? '').toString('base64') : this.string();
      case 'rtpParameters':
      case 'rtpCapabilities':
      case 'dtlsParameters':
        return r.chance(0.5) ? this.rtpLike() : this.any();
      default:
        return this.any();
    }
  }

  /**
   * A bearer token worth trying: someone else's (`withOthers`: only where the
   * server must refuse it for the attacker), one's own, unsigned, forged, truncated or junk.
   */
  token(withOthers = true): unknown {
    const r = this.rng;
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const sub = String(r.pick(this.targets.otherUserIds));
    switch (r.int(0, 6)) {
      case 0:
        return r.pick(withOthers && this.targets.otherTokens?.length ? this.targets.otherTokens : [r.uuid()]);
      case 1:
        return this.targets.ownToken ?? r.uuid();
      case 2:
        return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub, exp: 4_000_000_000 })}.`;
      case 3:
        return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: 4_000_000_000 })}.${b64('forged')}`;
      case 4:
        return (this.targets.ownToken ?? 'x').slice(0, -3);
      case 5:
        return 'x'.repeat(r.pick([1, 5000, 60_000]));
      default:
        return this.any(1);
    }
  }

  /** Close to what mediasoup expects, with some part wrong. */
  private rtpLike(): unknown {
    const r = this.rng;
    return {
      codecs: r.chance(0.8)
        ? [
            {
              mimeType: r.pick(['audio/opus', 'video/VP8', 'audio/PCMU', 'x', '']),
              payloadType: r.pick([100, 111, 0, -1, 128, 1e9]),
              clockRate: r.pick([48000, 0, -1, 90000]),
              channels: r.pick([2, 1, 0, 1000]),
              parameters: r.chance(0.5) ? {} : this.any(1),
              rtcpFeedback: r.chance(0.5) ? [] : this.any(1),
            },
          ]
        : this.any(1),
      encodings: r.chance(0.8) ? [{ ssrc: r.pick([1, 0, -1, 2 ** 32, 12345678]) }] : this.any(1),
      headerExtensions: r.chance(0.7) ? [] : this.any(1),
      rtcp: r.chance(0.7) ? { cname: 'x' } : this.any(1),
      role: r.pick(['auto', 'client', 'server', 'x']),
      fingerprints: r.chance(0.5) ? [{ algorithm: 'sha-256', value: 'AA:BB' }] : this.any(1),
    };
  }
}

/** Field names of each client event's payload (docs/protocol.md). */
export const PAYLOAD_FIELDS: Record<string, string[]> = {
  'dm:send': ['to', 'clientMsgId', 'body'],
  'dm:history': ['conversationId', 'beforeSeq', 'limit'],
  'dm:read': ['conversationId', 'upToSeq'],
  'dm:typing': ['to'],
  'dm:sync': ['afterCursor', 'limit'],
  'call:invite': ['to', 'media'],
  'call:accept': ['callId'],
  'call:decline': ['callId'],
  'call:cancel': ['callId'],
  'call:hangup': ['callId'],
  'media:capabilities': ['callId'],
  'media:create-transport': ['callId', 'direction', 'type'],
  'media:connect-transport': ['transportId', 'dtlsParameters', 'ip', 'port', 'rtcpPort'],
  'media:produce': ['transportId', 'kind', 'rtpParameters'],
  'media:consume': ['transportId', 'producerId', 'rtpCapabilities'],
  'media:resume': ['consumerId'],
  'auth:refresh': ['token'],
};

/** A payload for `event`: random, a template with fields fuzzed, or with fields missing or added. */
export function fuzzPayload(values: FuzzValues, rng: SeededRandom, event: string): unknown {
  const fields = Object.hasOwn(PAYLOAD_FIELDS, event) ? PAYLOAD_FIELDS[event] : ['to', 'callId', 'conversationId'];
  const mode = rng.int(0, 9);
  if (mode === 0) return values.any();
  const payload: Record<string, unknown> = {};
  for (const f of fields) if (mode !== 1 || rng.chance(0.5)) payload[f] = values.field(f);
  if (mode === 2) for (let i = rng.int(1, 4); i > 0; i--) payload[values.string().slice(0, 30)] = values.any(1);
  return payload;
}
