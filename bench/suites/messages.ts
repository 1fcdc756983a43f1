import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { io, Socket } from 'socket.io-client';
import { measureInsertRate, InsertRateResult } from '../ceilings/database-insert-rate';
import { inBatches, loginUsers, disconnectAll } from '../support/bench-users';
import { startBenchGateway } from '../support/gateway-process';
import { MessageLane, MessageLoadResult, runMessageLoad } from '../support/message-load';
import { CpuMeter } from '../support/process-usage';
import { round } from '../support/latency-samples';

const ROOT = path.resolve(__dirname, '..', '..');

export interface MessagesOptions {
  clients: number;
  window: number;
  warmupMs: number;
  durationMs: number;
  dbClients: number;
}

export interface MessagesResult {
  options: MessagesOptions;
  relayCeiling: MessageLoadResult & { serverCores: number };
  databaseCeiling: InsertRateResult;
  persisted: (MessageLoadResult & { gatewayCores: number }) | { unavailable: string };
  ratios?: { ofRelay: number; ofDbInserts: number; ofDbSeqTransactions: number };
}

/** A socket.io client bound to a user (by token for the gateway, by id for the bare relay). */
function openSocket(url: string, auth: Record<string, string>): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = io(url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

/** Clients in pairs, each sending to the other. */
function pairLanes(sockets: Socket[], ids: string[]): MessageLane[] {
  const lanes: MessageLane[] = [];
  for (let i = 0; i + 1 < sockets.length; i += 2) {
    lanes.push({ sender: sockets[i], recipient: sockets[i + 1], recipientId: ids[i + 1] });
    lanes.push({ sender: sockets[i + 1], recipient: sockets[i], recipientId: ids[i] });
  }
  return lanes;
}

async function relayCeiling(o: MessagesOptions): Promise<MessagesResult['relayCeiling']> {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', 'bench/ceilings/socketio-relay-server.ts'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const port = await new Promise<number>((resolve, reject) => {
      readline.createInterface({ input: child.stdout! }).once('line', (l) => resolve(JSON.parse(l).port));
      child.once('exit', (code) => reject(new Error(`relay server exited with ${code}`)));
    });
    const ids = Array.from({ length: o.clients }, (_, i) => `relay-user-${i}`);
    const sockets = await inBatches(ids, 32, (id) => openSocket(`http://127.0.0.1:${port}`, { userId: id }));
    const cpu = new CpuMeter([child.pid!]).start();
    const result = await runMessageLoad({
      lanes: pairLanes(sockets, ids),
      sendEvent: 'relay:send',
      deliveryEvent: 'relay:new',
      clientMsgIdOf: (p) => p?.message?.clientMsgId,
      window: o.window,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
    });
    const serverCores = cpu.stop()[child.pid!];
    for (const s of sockets) s.disconnect();
    return { ...result, serverCores };
  } finally {
    child.kill('SIGTERM');
  }
}

export async function runMessagesBench(o: MessagesOptions, log: (s: string) => void): Promise<MessagesResult> {
  log(`relay ceiling: ${o.clients} clients, window ${o.window}`);
  const relay = await relayCeiling(o);
  log(`  relay: ${relay.deliveredPerSec}/s, p99 ${relay.deliveryLatencyMs.p99} ms`);

  const gw = await startBenchGateway({ DM_RATE_PER_SEC: '1000000', DM_RATE_BURST: '1000000' });
  try {
    log(`database ceiling: ${o.dbClients} clients`);
    const database = await measureInsertRate(gw.db.url, o.dbClients, Math.max(3, Math.round(o.durationMs / 1000)));
    log(`  inserts ${database.insertsPerSec}/s, seq transactions ${database.seqTransactionsPerSec}/s (${database.tool})`);

    log(`persisted DMs through the gateway: ${o.clients} clients, window ${o.window}`);
    const users = await loginUsers(gw.url, o.clients, 'msgbench');
    const sockets = await inBatches(users, 32, (u) => openSocket(gw.url, { token: u.token }));
    const probe = await sockets[0].timeout(10_000).emitWithAck('dm:send', {
      to: users[1].id,
      clientMsgId: crypto.randomUUID(),
      body: 'probe',
    });
    let persisted: MessagesResult['persisted'];
    if (!probe?.ok) {
      persisted = { unavailable: `dm:send refused: ${JSON.stringify(probe?.error)}` };
    } else {
      const cpu = new CpuMeter([gw.pid]).start();
      const result = await runMessageLoad({
        lanes: pairLanes(
          sockets,
          users.map((u) => u.id),
        ),
        sendEvent: 'dm:send',
        deliveryEvent: 'dm:new',
        clientMsgIdOf: (p) => p?.message?.clientMsgId,
        window: o.window,
        warmupMs: o.warmupMs,
        durationMs: o.durationMs,
      });
      persisted = { ...result, gatewayCores: cpu.stop()[gw.pid] };
      log(`  persisted: ${result.deliveredPerSec}/s, p99 ${result.deliveryLatencyMs.p99} ms, errors ${JSON.stringify(result.ackErrors)}`);
    }
    for (const s of sockets) s.disconnect();
    disconnectAll(users);
    const out: MessagesResult = { options: o, relayCeiling: relay, databaseCeiling: database, persisted };
    if ('deliveredPerSec' in persisted) {
      out.ratios = {
        ofRelay: round(persisted.deliveredPerSec / relay.deliveredPerSec, 3),
        ofDbInserts: round(persisted.deliveredPerSec / database.insertsPerSec, 3),
        ofDbSeqTransactions: round(persisted.deliveredPerSec / database.seqTransactionsPerSec, 3),
      };
    }
    return out;
  } finally {
    await gw.close();
  }
}
