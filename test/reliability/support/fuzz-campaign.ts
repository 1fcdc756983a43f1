import { SocialClient } from '@app/client';
import { CLIENT_EVENT_NAMES, ERROR_CODES } from '@app/contracts';
import { uniqueHandle } from '@app/testing';
import { MAX_FRAME_BYTES } from '../../../apps/gateway/src/common/socket-io.adapter';
import { emitRawWithAck, frameBytes } from './raw-socket-frame';
import { FuzzTargets, FuzzValues, fuzzPayload } from './fuzz-values';
import { SeededRandom } from '../../support/seeded-random';
import { snapshotUserRows } from './user-rows-snapshot';

export interface FuzzCampaignOptions {
  seed: number;
  socketCasesPerEvent: number;
  httpCases: number;
}

export interface FuzzReport {
  seed: number;
  socketCases: number;
  httpCases: number;
  /** How often each answer came back: `ok`, an error code, or an HTTP status. */
  answers: Record<string, number>;
  /** Empty when every case was answered by the protocol and nothing leaked or changed. */
  failures: string[];
  victimRowsUnchanged: boolean;
  healthyAfter: boolean;
}

const SECRET = 'secret-between-victim-and-friend';
const EXTRA_EVENTS = ['dm:nope', 'x', 'call:incoming', 'flags:changed', 'constructor', '__proto__', 'toString', 'a'.repeat(500)];
const ID_FIELDS = ['callId', 'conversationId', 'transportId', 'producerId', 'consumerId'];

/** Every socket event name a round of the campaign sends a payload to. */
export function fuzzedEventNames(): string[] {
  return [...new Set([...CLIENT_EVENT_NAMES, ...EXTRA_EVENTS])];
}

interface HttpRoute {
  method: string;
  path: string;
  admin?: boolean;
}

const HTTP_ROUTES: HttpRoute[] = [
  { method: 'POST', path: '/auth/dev-login' },
  { method: 'GET', path: '/users/me' },
  { method: 'GET', path: '/users/by-handle/:p' },
  { method: 'GET', path: '/contacts' },
  { method: 'PUT', path: '/contacts/:p' },
  { method: 'DELETE', path: '/contacts/:p' },
  { method: 'PUT', path: '/blocks/:p' },
  { method: 'DELETE', path: '/blocks/:p' },
  { method: 'GET', path: '/conversations' },
  { method: 'GET', path: '/conversations/:p/messages' },
  { method: 'GET', path: '/calls' },
  { method: 'GET', path: '/flags' },
  { method: 'GET', path: '/admin/flags', admin: true },
  { method: 'PUT', path: '/admin/flags/:p', admin: true },
  { method: 'GET', path: '/admin/flags/:p/audit', admin: true },
  { method: 'GET', path: '/admin/flags/:p/exposures', admin: true },
  { method: 'GET', path: '/admin/flags/:p/report', admin: true },
  { method: 'GET', path: '/health' },
  { method: 'POST', path: '/auth/tokens' },
  { method: 'POST', path: '/admin/users/:p/revoke-tokens', admin: true },
  { method: 'GET', path: '/blocks' },
  { method: 'PATCH', path: '/users/me' },
  { method: 'POST', path: '/conversations' },
  { method: 'GET', path: '/nope/:p' },
];

// fetch refuses header values outside visible ASCII before anything is sent.
const headerSafe = (value: string) => (/^[\x21-\x7e]*$/.test(value) ? value : encodeURIComponent(value.toWellFormed()).slice(0, 8000));

const isErrorAck = (a: any) =>
  a && a.ok === false && typeof a.error === 'object' && ERROR_CODES.includes(a.error.code) && typeof a.error.message === 'string';

/**
 * An attacker sends random and malformed payloads to every socket event and
 * HTTP route, aimed at two users who have blocked them and talk to each
 * other. Each answer must be a protocol answer, never INTERNAL, never a leak,
 * and the two users' rows must be the same afterwards.
 */
export async function runFuzzCampaign(gw: { url: string; db: { url: string } }, o: FuzzCampaignOptions): Promise<FuzzReport> {
  const rng = new SeededRandom(o.seed);
  const failures: string[] = [];
  const answers: Record<string, number> = {};
  const count = (k: string) => (answers[k] = (answers[k] ?? 0) + 1);
  const progress = (what: string) => {
    if (process.env.FUZZ_PROGRESS) process.stderr.write(`[fuzz ${o.seed}] ${what}\n`);
  };
  const fail = (what: string) => {
    progress(`FAIL ${what.slice(0, 300)}`);
    if (failures.length < 50) failures.push(`[seed ${o.seed}] ${what}`);
  };

  const [victim, friend, attacker, accomplice] = await Promise.all(
    ['victim', 'friend', 'attacker', 'accomplice'].map((p) => SocialClient.login(gw.url, uniqueHandle(p))),
  );
  await Promise.all([victim, friend, attacker, accomplice].map((c) => c.connect()));
  const everyone = [victim, friend, attacker, accomplice];
  try {
    return await attack();
  } finally {
    for (const c of everyone) c.disconnect();
  }

  async function attack(): Promise<FuzzReport> {
    for (const [a, b] of [
      [victim, friend],
      [attacker, accomplice],
    ]) {
      await a.http('PUT', `/contacts/${b.id}`, {});
      await b.http('PUT', `/contacts/${a.id}`, {});
    }
    const first = await victim.request('dm:send', { to: friend.id, clientMsgId: crypto.randomUUID(), body: `${SECRET} 1` });
    await friend.request('dm:send', { to: victim.id, clientMsgId: crypto.randomUUID(), body: `${SECRET} 2` });
    await victim.http('PUT', `/blocks/${attacker.id}`, {});
    await friend.http('PUT', `/blocks/${attacker.id}`, {});

    // A live call between the two others, when calls exist, so media events have a real target.
    const otherCallIds: string[] = [];
    try {
      const incoming = friend.waitFor('call:incoming', () => true, 10_000);
      const { call } = await victim.request('call:invite', { to: friend.id });
      await incoming;
      await friend.request('call:accept', { callId: call.id });
      otherCallIds.push(call.id);
    } catch {
      // Calls not available: the fuzzer still aims random call ids.
    }

    // Nothing from the attacker may reach the two others.
    const leakedPushes: string[] = [];
    for (const c of [victim, friend]) {
      c.socket!.onAny((event: string, payload: unknown) => {
        if (JSON.stringify(payload ?? null).includes(attacker.id)) leakedPushes.push(`${c.user.handle} got ${event}`);
      });
    }

    const targets: FuzzTargets = {
      ownUserId: attacker.id,
      otherUserIds: [victim.id, friend.id],
      otherConversationIds: [first.message.conversationId],
      otherCallIds,
      ownIds: [attacker.id, accomplice.id],
      otherTokens: [victim.token, friend.token],
      ownToken: attacker.token,
    };
    const othersIds = new Set([...targets.otherConversationIds, ...targets.otherCallIds]);
    const othersTokens = new Set(targets.otherTokens);
    const values = new FuzzValues(rng, targets);
    progress(`set up; call ids ${JSON.stringify(otherCallIds)}`);
    const before = await snapshotUserRows(gw.db.url, victim.id);
    const friendBefore = await snapshotUserRows(gw.db.url, friend.id);

    // ---- socket events ----
    const events = fuzzedEventNames();
    let socketCases = 0;
    for (let round = 0; round < o.socketCasesPerEvent; round++) {
      for (const event of events) {
        let payload = fuzzPayload(values, rng, event);
        // The frame limit counts bytes; a frame over it closes the socket unanswered (tested apart, in limits).
        while (frameBytes(event, payload) > MAX_FRAME_BYTES) payload = values.any(1);
        socketCases++;
        const label = `${event} ${JSON.stringify(payload ?? null)?.slice(0, 200)}`;
        if (socketCases % 200 === 0) progress(`${socketCases} socket cases`);
        let ack: any;
        try {
          ack = await emitRawWithAck(attacker.socket!, event, payload, 15_000);
        } catch (err) {
          fail(`no answer to ${label}: ${(err as Error).message}`);
          if (!attacker.socket!.connected) await attacker.connect();
          continue;
        }
        if (ack?.ok === true) {
          count('ok');
          const referenced = payload && typeof payload === 'object' ? ID_FIELDS.map((f) => (payload as any)[f]) : [];
          if (referenced.some((id) => othersIds.has(typeof id === 'string' ? id.toLowerCase() : id))) {
            fail(`accepted someone else's id: ${label}`);
          }
          if (event === 'auth:refresh' && othersTokens.has((payload as any)?.token)) fail(`took someone else's token: ${label}`);
          if (JSON.stringify(ack).includes(SECRET)) fail(`leaked the others' messages: ${label}`);
        } else if (isErrorAck(ack)) {
          count(ack.error.code);
          if (ack.error.code === 'INTERNAL') fail(`INTERNAL for ${label}`);
        } else {
          fail(`not a protocol answer (${JSON.stringify(ack)?.slice(0, 200)}) for ${label}`);
        }
        if (!attacker.socket!.connected) {
          fail(`socket dropped after ${label}`);
          await attacker.connect();
        }
      }
    }

    // ---- HTTP routes ----
    progress('HTTP');
    const authVariants = () =>
      rng.pick([
        `Bearer ${attacker.token}`,
        `Bearer ${attacker.token}`,
        `Bearer ${attacker.token}`,
        undefined,
        'Bearer ',
        'Bearer garbage',
        `Bearer ${attacker.token.slice(0, -2)}xx`,
        `Basic ${Buffer.from('admin:admin').toString('base64')}`,
        `Bearer ${headerSafe(String(values.token(false)))}`,
        'Bearer test-admin-tokem',
      ]);
    for (let i = 0; i < o.httpCases; i++) {
      const route = rng.pick(HTTP_ROUTES);
      const param = rng.chance(0.6) ? String(values.id()) : values.string().slice(0, 3000);
      // Mostly well-encoded text; sometimes broken percent-escapes as they come off the wire.
      const encoded = rng.chance(0.1)
        ? rng.pick(['%', '%zz', '%E0%A4%A', '%00', '..%2F..', '%C0%AF'])
        : encodeURIComponent(param.toWellFormed());
      // Node's HTTP parser answers URLs past 16 KiB itself (a bare 431), before the gateway sees them.
      let path = route.path.replace(':p', encoded.slice(0, 8000));
      if (rng.chance(0.4)) {
        const q = new URLSearchParams();
        for (const k of ['limit', 'beforeSeq', rng.pick(['x', 'limit', '__proto__', 'cursor', 'since'])])
          q.append(k, String(values.any(0)).slice(0, 200));
        path += `?${q.toString()}`;
      }
      const headers: Record<string, string> = {};
      const auth = authVariants();
      if (auth) headers.authorization = auth;
      let body: string | undefined;
      if (route.method !== 'GET' && rng.chance(0.9)) {
        headers['content-type'] = rng.chance(0.9)
          ? 'application/json'
          : rng.pick(['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1']);
        switch (rng.int(0, 4)) {
          case 0:
            body = '{"handle":';
            break;
          case 1:
            body = JSON.stringify({ data: 'x'.repeat(300_000) });
            break;
          case 2:
            body = JSON.stringify(values.any());
            break;
          default:
            body = JSON.stringify(
              Object.fromEntries(
                ['handle', 'displayName', 'favorite', 'enabled', 'rolloutPercent', 'allowUserIds', 'denyUserIds', 'description']
                  .filter(() => rng.chance(0.5))
                  .map((k) => [k, rng.chance(0.5) ? values.any(1) : rng.pick([true, 50, [victim.id], 'ok_name', null])]),
              ),
            );
        }
      }
      const label = `${route.method} ${path.slice(0, 200)} body=${body?.slice(0, 120)}`;
      let status: number;
      let text: string;
      try {
        const res = await fetch(new URL(path, gw.url), { method: route.method, headers, body, signal: AbortSignal.timeout(15_000) });
        status = res.status;
        text = await res.text();
      } catch (err) {
        fail(`no HTTP answer to ${label}: ${(err as Error).message}`);
        continue;
      }
      count(`HTTP ${status}`);
      if (text.includes(SECRET)) fail(`leaked the others' messages: ${label}`);
      if (route.admin && status < 300) fail(`admin route without the admin token answered ${status}: ${label}`);
      if (status >= 500) fail(`HTTP ${status} for ${label}: ${text.slice(0, 200)}`);
      else if (status >= 400) {
        let parsed: any;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        if (!parsed?.error || !ERROR_CODES.includes(parsed.error.code))
          fail(`HTTP ${status} without a protocol error for ${label}: ${text.slice(0, 200)}`);
      }
    }

    // ---- afterwards ----
    progress('checking');
    const after = await snapshotUserRows(gw.db.url, victim.id);
    const friendAfter = await snapshotUserRows(gw.db.url, friend.id);
    const victimRowsUnchanged =
      JSON.stringify(before) === JSON.stringify(after) && JSON.stringify(friendBefore) === JSON.stringify(friendAfter);
    if (!victimRowsUnchanged) fail("the other users' rows changed");
    if (leakedPushes.length) fail(`pushes reached the others: ${leakedPushes.slice(0, 5).join(', ')}`);
    const healthyAfter = (await fetch(`${gw.url}/health`)).status === 200;
    // The service still does its job for ordinary users.
    const probe = await SocialClient.login(gw.url, uniqueHandle('probe'));
    everyone.push(probe);
    await probe.connect();
    const delivered = accomplice.waitFor('dm:new', (p) => p.message.senderId === probe.id, 10_000);
    await probe.request('dm:send', { to: accomplice.id, clientMsgId: crypto.randomUUID(), body: 'still working' });
    await delivered;
    progress(`answers ${JSON.stringify(answers)}`);
    return { seed: o.seed, socketCases, httpCases: o.httpCases, answers, failures, victimRowsUnchanged, healthyAfter };
  }
}
