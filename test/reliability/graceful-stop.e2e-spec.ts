import crypto from 'node:crypto';
import { Client } from 'pg';
import { befriend, SocialClient } from '@app/client';
import { createTestDatabase, spawnGateway, startTestGateway, TestDatabase, uniqueHandle } from '@app/testing';

const ENV = { DM_RATE_PER_SEC: '10000', DM_RATE_BURST: '10000' };
const SENDERS = 6;
const MESSAGES_PER_SENDER = 40;
const CALLS = 6;
/** Answers to wait for before stopping: enough that the burst is surely under way, far fewer than it holds. */
const ACKS_BEFORE_STOP = 15;

interface BurstOutcome {
  messageIds: string[];
  hungUpCallIds: string[];
  /** Answers that were not `ok`: a stopping gateway may leave requests unanswered, never answer them wrongly. */
  errorAcks: unknown[];
  answeredBeforeStop: number;
  requests: number;
}

async function connected(url: string, prefix: string): Promise<SocialClient> {
  // No reconnection: once the gateway stops, unanswered requests fail instead of waiting for it.
  return (await SocialClient.login(url, uniqueHandle(prefix))).connect({ reconnection: false, syncOnConnect: false });
}

/**
 * Messages and hang-ups fired at once; the gateway is told to stop as soon
 * as the first answers come back, with most of the burst still in flight.
 */
async function burstThenStop(url: string, stop: () => Promise<unknown>): Promise<BurstOutcome> {
  const pairs = await Promise.all(
    Array.from({ length: SENDERS + CALLS }, async (_, i) => {
      const [a, b] = await Promise.all([connected(url, `gs${i}a`), connected(url, `gs${i}b`)]);
      await befriend(a, b);
      return [a, b] as const;
    }),
  );
  const callPairs = pairs.slice(SENDERS);
  const callIds = await Promise.all(
    callPairs.map(async ([caller, callee]) => {
      const call = await caller.calls.invite(callee.id, 'audio');
      await callee.calls.waitForCall(call.id, 10_000);
      const active = caller.calls.waitForState(call.id, 'active', 10_000);
      await callee.calls.accept(call.id);
      await active;
      return call.id;
    }),
  );

  const outcome: BurstOutcome = { messageIds: [], hungUpCallIds: [], errorAcks: [], answeredBeforeStop: 0, requests: 0 };
  let answered = 0;
  let enoughAnswers!: () => void;
  const enough = new Promise<void>((resolve) => (enoughAnswers = resolve));
  const request = (client: SocialClient, event: string, payload: unknown, onOk: (data: any) => void) => {
    outcome.requests++;
    return client.rawRequest(event, payload, 20_000).then(
      (ack: any) => {
        if (ack.ok) onOk(ack.data);
        else outcome.errorAcks.push({ event, ack });
        if (++answered === ACKS_BEFORE_STOP) enoughAnswers();
      },
      () => undefined, // unanswered: the connection closed first
    );
  };
  const burst = [
    ...pairs
      .slice(0, SENDERS)
      .flatMap(([from, to]) =>
        Array.from({ length: MESSAGES_PER_SENDER }, (_, n) =>
          request(from, 'dm:send', { to: to.id, clientMsgId: crypto.randomUUID(), body: `burst ${n}` }, (d) =>
            outcome.messageIds.push(d.message.id),
          ),
        ),
      ),
    ...callPairs.map(([caller], i) => request(caller, 'call:hangup', { callId: callIds[i] }, () => outcome.hungUpCallIds.push(callIds[i]))),
  ];
  await enough;
  outcome.answeredBeforeStop = answered;
  await stop();
  await Promise.all(burst);
  for (const [a, b] of pairs) {
    a.disconnect();
    b.disconnect();
  }
  return outcome;
}

/** What the database holds for the burst, read after the gateway is gone. */
async function expectEverythingStored(dbUrl: string, outcome: BurstOutcome): Promise<void> {
  const pg = new Client({ connectionString: dbUrl });
  await pg.connect();
  try {
    const stored = await pg.query<{ id: string }>('SELECT id FROM messages WHERE id = ANY($1::uuid[])', [outcome.messageIds]);
    expect(stored.rows.map((r) => r.id).sort()).toEqual([...outcome.messageIds].sort());
    const hungUp = await pg.query<{ id: string; state: string }>('SELECT id, state::text FROM calls WHERE id = ANY($1::uuid[])', [
      outcome.hungUpCallIds,
    ]);
    expect(hungUp.rows.every((r) => r.state === 'ended')).toBe(true);
    expect(hungUp.rows).toHaveLength(outcome.hungUpCallIds.length);
    // Every call that ended, whether or not its answer got out, has its entry in the conversation.
    const missingEntries = await pg.query(
      `SELECT c.id FROM calls c WHERE c.state = 'ended'
         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.kind = 'call' AND m.call_id = c.id)`,
    );
    expect(missingEntries.rows).toEqual([]);
  } finally {
    await pg.end();
  }
}

describe('stopping loses nothing', () => {
  jest.setTimeout(120_000);
  let db: TestDatabase;

  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db?.drop();
  });

  it('an embedded gateway closed mid-burst finishes what it took: acknowledged messages and ended calls are stored', async () => {
    const gw = await startTestGateway({ db, env: ENV });
    const outcome = await burstThenStop(gw.url, () => gw.close());
    expect(outcome.errorAcks).toEqual([]);
    expect(outcome.answeredBeforeStop).toBeLessThan(outcome.requests);
    expect(outcome.messageIds.length).toBeGreaterThanOrEqual(ACKS_BEFORE_STOP - CALLS);
    await expectEverythingStored(db.url, outcome);
  });

  it('a gateway sent SIGTERM mid-burst does the same and exits 0', async () => {
    const gw = await spawnGateway(db.url, { ...ENV, LOG_LEVEL: 'info' });
    let exitCode: number | null = null;
    const outcome = await burstThenStop(gw.url, async () => {
      exitCode = await gw.stop();
    });
    expect(exitCode).toBe(0);
    expect(outcome.errorAcks).toEqual([]);
    expect(gw.logs.filter((l) => /after calling end on the pool|"level":(50|60)/.test(l))).toEqual([]);
    await expectEverythingStored(db.url, outcome);
  });
});
