import type { Server as HttpServer } from 'node:http';

/**
 * Work the gateway has taken on and not yet answered: socket events whose
 * ack is not sent and HTTP requests whose response is not finished. A
 * stopping gateway stops taking new work, waits here until what it took
 * is done, and only then closes its pools, so nothing it acknowledged is
 * cut off half-written.
 */
export class InFlightWork {
  private running = 0;
  private stopping = false;
  private readonly idleWaiters = new Set<() => void>();

  /** True once a stop began: new socket events are left unhandled (the client resends elsewhere). */
  get draining(): boolean {
    return this.stopping;
  }

  get count(): number {
    return this.running;
  }

  /** Counts `work` as in flight until it settles. */
  track<T>(work: Promise<T>): Promise<T> {
    this.running++;
    return work.finally(() => this.done());
  }

  /** Counts every HTTP request until its response is finished or its connection gone. */
  trackHttp(server: HttpServer): void {
    server.on('request', (_req, res) => {
      this.running++;
      let counted = true;
      const finish = () => {
        if (!counted) return;
        counted = false;
        this.done();
      };
      res.once('finish', finish);
      res.once('close', finish);
    });
  }

  /**
   * Stops taking new work (the HTTP server stops accepting connections, new
   * socket events are refused) and resolves once nothing is in flight, or
   * after `timeoutMs` with what is still running.
   */
  async drain(server: HttpServer, timeoutMs: number): Promise<number> {
    this.stopping = true;
    // Stops new connections; idle keep-alive connections are closed, busy ones finish first.
    server.close(() => undefined);
    server.closeIdleConnections?.();
    if (this.running === 0) return 0;
    return new Promise((resolve) => {
      const waiter = () => {
        clearTimeout(timer);
        resolve(0);
      };
      const timer = setTimeout(() => {
        this.idleWaiters.delete(waiter);
        resolve(this.running);
      }, timeoutMs);
      this.idleWaiters.add(waiter);
    });
  }

  private done(): void {
    this.running--;
    if (this.running > 0) return;
    for (const waiter of this.idleWaiters) waiter();
    this.idleWaiters.clear();
  }
}
