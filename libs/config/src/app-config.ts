import os from 'node:os';
import { z } from 'zod';

const intVar = (def: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      if (!/^\d+$/.test(v.trim())) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      const n = Number(v);
      if (n < min || n > max) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const urlVar = (protocols: string[]) =>
  optionalString.refine(
    (v) => {
      if (v === undefined) return true;
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `a URL starting with ${protocols.map((p) => p + '//').join(' or ')}` },
  );

const ipVar = (def?: string) =>
  optionalString
    .refine((v) => v === undefined || z.string().ip().safeParse(v).success, { message: 'an IPv4 or IPv6 address' })
    .transform((v) => v ?? def);

/** The protocol's configuration table, typed. Names are the environment's. */
const envShape = z.object({
  PORT: intVar(3000, 0, 65535),
  DATABASE_URL: urlVar(['postgres:', 'postgresql:']),
  ADMIN_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 8, {
    message: 'at least 8 characters',
  }),
  JWT_SECRET: optionalString.refine((v) => v === undefined || v.length >= 16, {
    message: 'at least 16 characters',
  }),
  CALL_RING_TIMEOUT_MS: intVar(45_000, 100),
  CALL_MAX_DURATION_MS: intVar(3_600_000, 100),
  CALL_WARNING_BEFORE_MS: intVar(60_000, 0),
  CALL_RECONNECT_GRACE_MS: intVar(15_000, 0),
  MEDIA_LISTEN_IP: ipVar('127.0.0.1'),
  MEDIA_ANNOUNCED_IP: ipVar(),
  MEDIA_MIN_PORT: intVar(40_000, 1024, 65535),
  MEDIA_MAX_PORT: intVar(49_999, 1024, 65535),
  MEDIA_WORKERS: intVar(os.cpus().length, 1, 64),
  REDIS_URL: urlVar(['redis:', 'rediss:']),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .optional()
    .transform((v) => v ?? 'info'),
  EMBEDDED_PG_DIR: optionalString,
  EMBEDDED_PG_PORT: intVar(54329, 1024, 65535),
  DM_RATE_PER_SEC: intVar(50, 1),
  DM_RATE_BURST: intVar(100, 1),
});

/** Every environment variable the server reads. */
export const CONFIG_VARIABLES = Object.keys(envShape.shape) as readonly string[];

const envSchema = envShape.superRefine((env, ctx) => {
  if (env.MEDIA_MIN_PORT > env.MEDIA_MAX_PORT) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['MEDIA_MAX_PORT'],
      message: 'a port not below MEDIA_MIN_PORT',
    });
  }
  if (env.CALL_WARNING_BEFORE_MS >= env.CALL_MAX_DURATION_MS) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['CALL_WARNING_BEFORE_MS'],
      message: 'a lead time shorter than CALL_MAX_DURATION_MS',
    });
  }
});

export interface AppConfig {
  port: number;
  /** Undefined: the embedded PostgreSQL is started. */
  databaseUrl?: string;
  adminToken?: string;
  /** Undefined in the environment: a random secret is made at start. */
  jwtSecret?: string;
  calls: {
    ringTimeoutMs: number;
    maxDurationMs: number;
    warningBeforeMs: number;
    reconnectGraceMs: number;
  };
  media: {
    listenIp: string;
    announcedIp?: string;
    minPort: number;
    maxPort: number;
    workers: number;
  };
  redisUrl?: string;
  logLevel: string;
  embeddedPostgres: { dir?: string; port: number };
  dmRate: { perSecond: number; burst: number };
}

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; expected: string; got?: string }[]) {
    super(
      'Invalid configuration:\n' +
        problems.map((p) => `  ${p.variable}=${JSON.stringify(p.got ?? '')}: expected ${p.expected}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

/** Reads and checks the environment. Throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const variable = String(i.path[0] ?? '?');
        return { variable, expected: i.message, got: env[variable] };
      }),
    );
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    adminToken: e.ADMIN_TOKEN,
    jwtSecret: e.JWT_SECRET,
    calls: {
      ringTimeoutMs: e.CALL_RING_TIMEOUT_MS,
      maxDurationMs: e.CALL_MAX_DURATION_MS,
      warningBeforeMs: e.CALL_WARNING_BEFORE_MS,
      reconnectGraceMs: e.CALL_RECONNECT_GRACE_MS,
    },
    media: {
      listenIp: e.MEDIA_LISTEN_IP as string,
      announcedIp: e.MEDIA_ANNOUNCED_IP,
      minPort: e.MEDIA_MIN_PORT,
      maxPort: e.MEDIA_MAX_PORT,
      workers: e.MEDIA_WORKERS,
    },
    redisUrl: e.REDIS_URL,
    logLevel: e.LOG_LEVEL,
    embeddedPostgres: { dir: e.EMBEDDED_PG_DIR, port: e.EMBEDDED_PG_PORT },
    dmRate: { perSecond: e.DM_RATE_PER_SEC, burst: e.DM_RATE_BURST },
  };
}
