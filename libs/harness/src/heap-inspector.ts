import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

/**
 * Node flags that open a process's inspector on a loopback port the OS
 * picks; the process prints its address on stderr at start-up.
 */
export const INSPECTOR_NODE_ARGS = ['--inspect=127.0.0.1:0'];

/**
 * A connection to a process's inspector, for its heap: a full garbage
 * collection on demand (what the heap holds right after one is the live
 * heap, exactly; between collections the heap also holds garbage, more or
 * less of it depending on when the collector last ran), and any other
 * inspector method through `request` (the allocation diagnostic samples
 * with HeapProfiler's).
 */
export class HeapInspector {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (err: Error) => void }>();

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const reply = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
      const waiter = reply.id === undefined ? undefined : this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id!);
      if (reply.error) waiter.reject(new Error(reply.error.message));
      else waiter.resolve(reply.result);
    });
    socket.on('close', () => {
      for (const waiter of this.pending.values()) waiter.reject(new Error('inspector closed'));
      this.pending.clear();
    });
  }

  /** Connects to the inspector whose address the process logged (started with INSPECTOR_NODE_ARGS). */
  static async attach(logs: string[], timeoutMs = 10_000): Promise<HeapInspector> {
    const deadline = Date.now() + timeoutMs;
    let address: string | undefined;
    while (!(address = logs.map((l) => /Debugger listening on (ws:\/\/\S+)/.exec(l)?.[1]).find(Boolean))) {
      if (Date.now() > deadline) throw new Error('the process did not log an inspector address (started without --inspect?)');
      await sleep(50);
    }
    return HeapInspector.connect(address);
  }

  /** Connects to an inspector by its WebSocket address (`ws://…`, as /json/list gives it). */
  static async connect(address: string): Promise<HeapInspector> {
    const socket = new WebSocket(address);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new HeapInspector(socket);
  }

  /** A full, memory-reducing collection (what DevTools' "collect garbage" does); resolves once it is over. */
  async collectGarbage(): Promise<void> {
    await this.request('HeapProfiler.collectGarbage');
  }

  /** One inspector method; resolves with its result once the process answered. */
  request<T = unknown>(method: string, params?: object): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: (result) => resolve(result as T), reject });
      this.socket.send(JSON.stringify({ id, method, params }), (err) => {
        if (!err) return;
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  close(): void {
    this.socket.close();
  }
}
