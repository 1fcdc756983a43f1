/**
 * A connection inside the caller's own transaction: timers armed or disarmed
 * through it commit or roll back with the caller's rows, so a stored state
 * change and its timer exist together or not at all.
 */
export interface SqlExecutor {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

/** The executor of one pooled connection (e.g. the client of DatabasePool.transaction). */
export function executorOf(client: { query(text: string, values?: unknown[]): Promise<{ rows: any[] }> }): SqlExecutor {
  return { executeSql: (text, values) => client.query(text, values) };
}
