import crypto from 'node:crypto';
import { Client } from 'pg';

/** The server scratch databases are made on; CI and developers run one on 127.0.0.1:5432. */
export const SCRATCH_SERVER_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface ScratchDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Runs `fn` on a connection of its own to a database server (the scratch server's by default), closed after. */
export async function onDatabaseServer<T>(fn: (c: Client) => Promise<T>, serverUrl = SCRATCH_SERVER_URL): Promise<T> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A new, empty database of its own (for one test file or one benchmark run), dropped by its owner. */
export async function createScratchDatabase(): Promise<ScratchDatabase> {
  const name = `t_${crypto.randomBytes(6).toString('hex')}`;
  await onDatabaseServer((c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(SCRATCH_SERVER_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => onDatabaseServer((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}
