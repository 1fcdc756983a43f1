import { Client } from 'pg';
import type { PlainReceiveStream, PlainSendStream } from '@app/client';
import type { SpawnedGateway } from './spawn-gateway';
import { near } from './wait';

/*
 * For tests of a service spread over processes: which media node a spawned
 * process is, where a call's room lives, and whether audio flows both ways.
 * (Not exported from @app/testing: exchangeTones asserts with Jest's expect.)
 */

/** The node id a spawned media process logged when it started serving. */
export function nodeIdOf(process: SpawnedGateway): string {
  const line = process.logs.find((l) => l.includes('"media node serving"'));
  if (!line) throw new Error('no media node id in the logs');
  return JSON.parse(line).nodeId;
}

/** The media node a call's room is recorded on, and the call's state. */
export async function roomOf(dbUrl: string, callId: string): Promise<{ node: string | null; state: string }> {
  const c = new Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const row = (await c.query('SELECT media_node_id, state FROM calls WHERE id = $1', [callId])).rows[0];
    return { node: row?.media_node_id ?? null, state: row?.state };
  } finally {
    await c.end();
  }
}

export async function roomNodeOf(dbUrl: string, callId: string): Promise<string | null> {
  return (await roomOf(dbUrl, callId)).node;
}

/** Side a's and side b's streams, in that order. */
export interface TalkingLegs {
  sends: PlainSendStream[];
  receives: PlainReceiveStream[];
}

/** a sends 440 Hz and b 660 Hz for 400 ms; each must hear the other's tone. */
export async function exchangeTones(legs: TalkingLegs): Promise<void> {
  const before = legs.receives.map((r) => r.frameFrequencies().length);
  const [sentA, sentB] = await Promise.all([legs.sends[0].sendTone(440, 400), legs.sends[1].sendTone(660, 400)]);
  await Promise.all([legs.receives[1].waitForPackets(before[1] + sentA, 5000), legs.receives[0].waitForPackets(before[0] + sentB, 5000)]);
  // Each direction with what it is made of, so a failure says which consumer heard what.
  const direction = (from: PlainSendStream, to: PlainReceiveStream, since: number, sent: number, hz: number) => ({
    heard: to.frameFrequencies().slice(since).filter(near(hz)).length >= 0.8 * sent,
    sent,
    framesSince: to.frameFrequencies().length - since,
    sentProducerId: from.producerId,
    consumedProducerId: to.producerId,
    consumerId: to.consumerId,
  });
  const aToB = direction(legs.sends[0], legs.receives[1], before[1], sentA, 440);
  const bToA = direction(legs.sends[1], legs.receives[0], before[0], sentB, 660);
  expect({ aToB, bToA }).toMatchObject({ aToB: { heard: true }, bToA: { heard: true } });
}
