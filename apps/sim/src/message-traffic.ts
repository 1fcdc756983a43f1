import { performance } from 'node:perf_hooks';
import { newClientMsgId, sleep } from '@app/client';
import type { Population } from './sim-population';
import { MessageFindings, summarize } from './sim-report';
import { SeededRandom } from './seeded-random';

export interface MessageTrafficOptions {
  messagesPerUser: number;
  /** Sends per second across all users. */
  ratePerSecond: number;
  /** How long to wait for stragglers after the last send before a final dm:sync. */
  settleMs: number;
  /** Keep sending at the rate until this performance.now() time instead of a fixed count. */
  untilMs?: number;
}

interface SentRecord {
  to: number;
  startedAt: number;
  messageId?: string;
}

/**
 * Every user sends `messagesPerUser` messages to random friends, paced to the
 * overall rate; every recipient records what it hears (the SDK's inbox hands
 * each id over once; raw `dm:new` pushes are counted separately to catch
 * duplicates). After a settle time each recipient runs a final dm:sync: what
 * is still missing then is lost.
 */
export async function runMessageTraffic(
  population: Population,
  random: SeededRandom,
  options: MessageTrafficOptions,
  progress: () => void,
  errors: string[],
): Promise<MessageFindings> {
  const { clients, friendsOf } = population;
  const sent = new Map<string, SentRecord>(); // by clientMsgId
  const receivedAt = new Map<string, { at: number; via: 'push' | 'sync' }>(); // by message id
  const pushes = new Map<string, number>(); // `${recipient}:${messageId}` -> count
  const idsByClientMsgId = new Map<string, Set<string>>();
  const offs: (() => void)[] = [];

  clients.forEach((client, index) => {
    offs.push(
      client.on('dm:new', ({ message }) => {
        if (message.recipientId !== client.id) return;
        const key = `${index}:${message.id}`;
        pushes.set(key, (pushes.get(key) ?? 0) + 1);
      }),
      client.messages.onMessage((message, via) => {
        if (message.recipientId !== client.id) return;
        if (!receivedAt.has(message.id)) receivedAt.set(message.id, { at: performance.now(), via });
        let ids = idsByClientMsgId.get(`${message.senderId}:${message.clientMsgId}`);
        if (!ids) idsByClientMsgId.set(`${message.senderId}:${message.clientMsgId}`, (ids = new Set()));
        ids.add(message.id);
      }),
    );
  });

  const senders = clients.map((_, i) => i).filter((i) => friendsOf[i].length > 0);
  const intervalMs = 1000 / Math.max(options.ratePerSecond, 0.001);
  const begin = performance.now();
  const total =
    options.untilMs === undefined
      ? senders.length * options.messagesPerUser
      : senders.length === 0
        ? 0
        : Math.max(0, Math.floor((options.untilMs - begin) / intervalMs));
  const inFlight = new Set<Promise<void>>();
  let failed = 0;
  for (let n = 0; n < total; n++) {
    const from = senders[n % senders.length];
    const to = random.pick(friendsOf[from]);
    const clientMsgId = newClientMsgId();
    const record: SentRecord = { to, startedAt: 0 };
    // Pace by schedule, not by completion, so a slow ack does not slow the offered load.
    const due = begin + n * intervalMs - performance.now();
    if (due > 0) await sleep(due);
    record.startedAt = performance.now();
    sent.set(clientMsgId, record);
    const sending: Promise<void> = clients[from].messages
      .send(clients[to].id, `sim message ${n} from ${from} to ${to}`, { clientMsgId })
      .then((message) => {
        record.messageId = message.id;
      })
      .catch((err) => {
        failed++;
        if (errors.length < 20) errors.push(`dm:send ${from}->${to}: ${String(err?.message ?? err)}`);
      })
      .finally(() => {
        inFlight.delete(sending);
        progress();
      });
    inFlight.add(sending);
  }
  await Promise.all(inFlight);

  const acked = [...sent.values()].filter((r) => r.messageId !== undefined);
  const settleUntil = performance.now() + options.settleMs;
  while (performance.now() < settleUntil && acked.some((r) => !receivedAt.has(r.messageId!))) await sleep(50);
  // Anything a push missed must still be reachable through the recipient's cursor.
  await Promise.all(clients.map((c) => c.messages.sync().catch(() => 0)));
  for (const off of offs) off();

  const latencies: number[] = [];
  let delivered = 0;
  let deliveredViaSync = 0;
  for (const record of acked) {
    const got = receivedAt.get(record.messageId!);
    if (!got) continue;
    delivered++;
    if (got.via === 'sync') deliveredViaSync++;
    else latencies.push(got.at - record.startedAt);
  }
  let duplicated = 0;
  for (const count of pushes.values()) duplicated += Math.max(0, count - 1);
  for (const ids of idsByClientMsgId.values()) duplicated += ids.size - 1;

  return {
    sent: total,
    failed,
    delivered,
    deliveredViaSync,
    duplicated,
    lost: acked.length - delivered,
    latencyMs: summarize(latencies),
  };
}
