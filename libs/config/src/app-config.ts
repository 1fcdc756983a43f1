import os from 'node:os';
import { z } from 'zod';
import type { NodeRole } from '@app/contracts';

const intVar = (def: number, min: number, max = Number.MAX_SAFE_INTEGER) => optionalIntVar(min, max).transform((v) => v ?? def);

/** An integer variable whose default depends on other variables: undefined when unset. */
const optionalIntVar = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .optional()
    .transform((v, ctx): number | undefined => {
      if (v === undefined || v.trim() === '') return undefined;
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

const boolVar = optionalString.refine((v) => v === undefined || ['true', 'false', '1', '0'].includes(v.toLowerCase()), {
  message: 'true or false',
});

const parseBool = (v: string | undefined, def: boolean): boolean => (v === undefined ? def : ['true', '1'].includes(v.toLowerCase()));

/** Comma-separated IPv4/IPv6 CIDR blocks (a bare address is a /32 or /128). */
const cidrListVar = optionalString
  .refine((v) => v === undefined || v.split(',').every((c) => isCidr(c.trim())), {
    message: 'comma-separated CIDR blocks such as 10.0.0.0/8,192.0.2.7',
  })
  .transform((v) => (v === undefined ? [] : v.split(',').map((c) => c.trim())));

/** Comma-separated browser origins (scheme://host[:port]), each exactly as a browser sends it. */
const originListVar = optionalString
  .refine((v) => v === undefined || v.split(',').every((o) => isOrigin(o.trim())), {
    message: 'comma-separated origins such as https://app.example.com,http://localhost:5173',
  })
  .transform((v) => (v === undefined ? [] : v.split(',').map((o) => o.trim())));

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return ['http:', 'https:'].includes(url.protocol) && url.origin === value;
  } catch {
    return false;
  }
}

/** ADMIN_TOKENS: `name:token,...`; the name is who the audit says made a change. */
const ADMIN_NAME = /^[a-z0-9][a-z0-9_.-]{0,31}$/;
const adminTokensVar = optionalString
  .refine(
    (v) =>
      v === undefined ||
      v.split(',').every((entry) => {
        const at = entry.indexOf(':');
        return at > 0 && ADMIN_NAME.test(entry.slice(0, at).trim()) && entry.slice(at + 1).trim().length >= 8;
      }),
    { message: 'comma-separated name:token pairs (name: 1-32 of [a-z0-9_.-], token: at least 8 characters)' },
  )
  .transform((v) =>
    v === undefined
      ? []
      : v.split(',').map((entry) => {
          const at = entry.indexOf(':');
          return { name: entry.slice(0, at).trim(), token: entry.slice(at + 1).trim() };
        }),
  );

/** A CIDR list where `none` (not empty: empty means the default) is no address at all. */
const cidrListOrNoneVar = (def: string[]) =>
  optionalString
    .refine((v) => v === undefined || v.toLowerCase() === 'none' || v.split(',').every((c) => isCidr(c.trim())), {
      message: 'comma-separated CIDR blocks such as 10.0.0.0/8,::1, or none',
    })
    .transform((v) => (v === undefined ? def : v.toLowerCase() === 'none' ? [] : v.split(',').map((c) => c.trim())));

/** Whether an address is this machine's loopback: listening there only lets local processes in. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.trim().toLowerCase();
  return a === 'localhost' || a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(a);
}

function isCidr(value: string): boolean {
  const [address, bits, ...rest] = value.split('/');
  if (rest.length > 0 || !z.string().ip().safeParse(address).success) return false;
  if (bits === undefined) return true;
  const max = address.includes(':') ? 128 : 32;
  return /^\d+$/.test(bits) && Number(bits) <= max;
}

/** The protocol's configuration table, typed. Names are the environment's. */
const envShape = z.object({
  NODE_ENV: optionalString,
  NODE_ROLE: z
    .enum(['all', 'gateway', 'media'])
    .optional()
    .transform((v) => v ?? 'all'),
  PORT: intVar(3000, 0, 65535),
  HOST: ipVar('127.0.0.1'),
  CORS_ORIGINS: originListVar,
  METRICS_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 8, { message: 'at least 8 characters' }),
  DATABASE_URL: urlVar(['postgres:', 'postgresql:']),
  DATABASE_POOL_SIZE: intVar(20, 2, 1000),
  DATABASE_STATEMENT_TIMEOUT_MS: intVar(15_000, 0, 10 * 60_000),
  DATABASE_ACQUIRE_TIMEOUT_MS: intVar(10_000, 100, 10 * 60_000),
  ADMIN_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 8, {
    message: 'at least 8 characters',
  }),
  ADMIN_TOKENS: adminTokensVar,
  JWT_SECRET: optionalString.refine((v) => v === undefined || v.length >= 16, {
    message: 'at least 16 characters',
  }),
  CALL_RING_TIMEOUT_MS: intVar(45_000, 100),
  CALL_MAX_DURATION_MS: intVar(3_600_000, 100),
  CALL_WARNING_BEFORE_MS: optionalIntVar(0),
  CALL_RECONNECT_GRACE_MS: intVar(15_000, 0),
  CALL_QUALITY_INTERVAL_MS: intVar(5_000, 0, 10 * 60_000),
  MEDIA_LISTEN_IP: ipVar('127.0.0.1'),
  MEDIA_ANNOUNCED_IP: ipVar(),
  MEDIA_MIN_PORT: intVar(40_000, 1024, 65535),
  MEDIA_MAX_PORT: intVar(49_999, 1024, 65535),
  MEDIA_WORKERS: intVar(os.cpus().length, 1, 64),
  MEDIA_WEBRTC_PORT: intVar(39_000, 0, 65535),
  MEDIA_REQUEST_TIMEOUT_MS: intVar(2_000, 50, 60_000),
  MEDIA_RECOVERY_TIMEOUT_MS: intVar(10_000, 100, 10 * 60_000),
  MEDIA_HEARTBEAT_MS: intVar(250, 50, 10_000),
  MEDIA_HEARTBEAT_TTL_MS: intVar(1_000, 100, 60_000),
  MEDIA_RECOVERY_SWEEP_MS: intVar(250, 50, 10_000),
  MEDIA_RECOVERY_CONCURRENCY: intVar(32, 1, 1_000),
  REDIS_URL: urlVar(['redis:', 'rediss:']),
  AUTH_DEV_LOGIN: boolVar,
  AUTH_API_KEY: optionalString,
  AUTH_TOKEN_TTL_S: intVar(3600, 10, 30 * 24 * 3600),
  MAX_SOCKETS_PER_USER: intVar(10, 1, 1000),
  SOCKET_PLACE_LEASE_MS: intVar(5_000, 300, 10 * 60_000),
  MEDIA_PLAIN_RTP: boolVar,
  MEDIA_PLAIN_RTP_ALLOWED_CIDRS: cidrListVar,
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .optional()
    .transform((v) => v ?? 'info'),
  EMBEDDED_PG_DIR: optionalString,
  EMBEDDED_PG_PORT: intVar(54329, 1024, 65535),
  DM_RATE_PER_SEC: intVar(50, 1),
  DM_RATE_BURST: intVar(100, 1),
  SHUTDOWN_DRAIN_MS: optionalIntVar(0, 10 * 60_000),
  EVENT_RATE_SCALE: intVar(1, 1, 1_000_000),
  SOCKET_MAX_IN_FLIGHT: intVar(64, 1, 100_000),
  // Read by libs/observability before the rest of the configuration (logger, metrics, tracer);
  // listed here so the configuration names every variable the server reads.
  METRICS_PREFIX: z.string().optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString,
  OTEL_SERVICE_NAME: optionalString,
  HTTP_USER_RATE_PER_SEC: intVar(20, 1),
  HTTP_USER_RATE_BURST: intVar(100, 1),
  HTTP_ADDRESS_RATE_PER_SEC: intVar(50, 1),
  HTTP_ADDRESS_RATE_BURST: intVar(200, 1),
  HTTP_RATE_EXEMPT_CIDRS: cidrListOrNoneVar(['127.0.0.0/8', '::1/128']),
});

/** In production a guessable secret is worse than none: shorter ones stop the start. */
export const MIN_PRODUCTION_SECRET_CHARS = 32;
const PRODUCTION_SECRET_VARIABLES = ['ADMIN_TOKEN', 'JWT_SECRET', 'AUTH_API_KEY'] as const;

/** Every environment variable the server reads. */
export const CONFIG_VARIABLES = Object.keys(envShape.shape) as readonly string[];

const envSchema = envShape.superRefine((env, ctx) => {
  if (env.MEDIA_MIN_PORT > env.MEDIA_MAX_PORT) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['MEDIA_MAX_PORT'],
      message: `a port not below MEDIA_MIN_PORT (${env.MEDIA_MIN_PORT})`,
      params: { effective: env.MEDIA_MAX_PORT },
    });
  }
  if (env.MEDIA_WEBRTC_PORT !== 0 && env.MEDIA_WEBRTC_PORT + env.MEDIA_WORKERS - 1 > 65535) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['MEDIA_WEBRTC_PORT'],
      message: `a port that leaves room for one port per worker (MEDIA_WORKERS=${env.MEDIA_WORKERS}) below 65536`,
      params: { effective: env.MEDIA_WEBRTC_PORT },
    });
  }
  // A node must beat at least twice per TTL, or one late beat makes it look dead.
  if (env.MEDIA_HEARTBEAT_TTL_MS < 2 * env.MEDIA_HEARTBEAT_MS) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['MEDIA_HEARTBEAT_TTL_MS'],
      message: `at least twice MEDIA_HEARTBEAT_MS (${env.MEDIA_HEARTBEAT_MS})`,
      params: { effective: env.MEDIA_HEARTBEAT_TTL_MS },
    });
  }
  if (env.NODE_ENV === 'production') {
    for (const variable of PRODUCTION_SECRET_VARIABLES) {
      const value = env[variable];
      if (value !== undefined && value.length < MIN_PRODUCTION_SECRET_CHARS) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: [variable],
          message: `at least ${MIN_PRODUCTION_SECRET_CHARS} characters when NODE_ENV=production`,
        });
      }
    }
    if (env.ADMIN_TOKENS.some((t) => t.token.length < MIN_PRODUCTION_SECRET_CHARS)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['ADMIN_TOKENS'],
        message: `tokens of at least ${MIN_PRODUCTION_SECRET_CHARS} characters when NODE_ENV=production`,
      });
    }
  }
  // Several processes sharing Redis are one service: each inventing its own secret would refuse the others' tokens.
  if (env.REDIS_URL !== undefined && env.JWT_SECRET === undefined) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['JWT_SECRET'],
      message: 'a secret shared by every process when REDIS_URL is set (each process would otherwise sign with its own)',
    });
  }
  const adminNames = env.ADMIN_TOKENS.map((t) => t.name);
  if (new Set(adminNames).size !== adminNames.length || (env.ADMIN_TOKEN !== undefined && adminNames.includes('admin'))) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['ADMIN_TOKENS'],
      message: 'each name once (and not "admin" while ADMIN_TOKEN is set: that one is "admin")',
    });
  }
  // Only a lead time that was set can be too long: the default shrinks with the cap.
  if (env.CALL_WARNING_BEFORE_MS !== undefined && env.CALL_WARNING_BEFORE_MS >= env.CALL_MAX_DURATION_MS) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      path: ['CALL_WARNING_BEFORE_MS'],
      message: `a lead time shorter than CALL_MAX_DURATION_MS (${env.CALL_MAX_DURATION_MS})`,
      params: { effective: env.CALL_WARNING_BEFORE_MS },
    });
  }
});

export type { NodeRole };

export interface AppConfig {
  /** NODE_ENV=production: safer defaults (no dev-login, no plain RTP). */
  production: boolean;
  /** What this process does: clients (gateway), mediasoup rooms (media), or both (all). */
  role: NodeRole;
  port: number;
  /** Undefined: the embedded PostgreSQL is started. */
  databaseUrl?: string;
  /** Connections of the process's one pool (Prisma, plain SQL and the scheduler share it). */
  databasePoolSize: number;
  /** A statement running longer is cancelled by PostgreSQL (0: no limit). */
  databaseStatementTimeoutMs: number;
  /** A query waiting this long for a connection of the pool fails instead of queueing on. */
  databaseAcquireTimeoutMs: number;
  /** Address the HTTP/socket.io port listens on. */
  host: string;
  /** Browser origins allowed to call the API and open sockets; empty: same origin only. */
  corsOrigins: string[];
  /** Bearer token GET /metrics requires; undefined: /metrics is open. */
  metricsToken?: string;
  adminToken?: string;
  /** Named admin tokens (ADMIN_TOKENS, plus ADMIN_TOKEN as "admin"): the name is the audit's actor. */
  adminTokens: { name: string; token: string }[];
  /** Undefined in the environment: a random secret is made at start. */
  jwtSecret?: string;
  calls: {
    ringTimeoutMs: number;
    maxDurationMs: number;
    warningBeforeMs: number;
    reconnectGraceMs: number;
    /** `call:quality` period, and how often the SFU's stats of active calls are sampled; 0: no pushes (stats still kept). */
    qualityIntervalMs: number;
  };
  media: {
    listenIp: string;
    announcedIp?: string;
    minPort: number;
    maxPort: number;
    workers: number;
    /** A gateway's request to a media node fails (protocol error) after this long. */
    requestTimeoutMs: number;
    /** A call whose lost room no node can take for this long ends with media_failure. */
    recoveryTimeoutMs: number;
    /** How often a media node reports itself. */
    heartbeatMs: number;
    /** How long a node's report stays true: a node silent this long is lost and its rooms move. */
    heartbeatTtlMs: number;
    /** How often each process looks for lost rooms (and probes the nodes it knows). */
    recoverySweepMs: number;
    /** Lost rooms one process opens again at the same time. */
    recoveryConcurrency: number;
    /** Plain-RTP transports offered at all. */
    plainRtp: boolean;
    /** Addresses besides the client's own that plain recv transports may send to. */
    plainRtpAllowedCidrs: string[];
    /** Worker i's WebRtcServer listens on this + i (UDP and TCP); 0: any free port. */
    webRtcPort: number;
  };
  redisUrl?: string;
  auth: {
    devLogin: boolean;
    /** Undefined: POST /auth/tokens is off. */
    apiKey?: string;
    tokenTtlS: number;
  };
  maxSocketsPerUser: number;
  /** With REDIS_URL: how long a socket's place under the cap outlives its process's last renewal (a killed process frees its places after this). */
  socketPlaceLeaseMs: number;
  logLevel: string;
  embeddedPostgres: { dir?: string; port: number };
  dmRate: { perSecond: number; burst: number };
  /** SIGTERM → stop: how long the process stays up not ready (so load balancers notice) before it closes. */
  shutdownDrainMs: number;
  /** Multiplies every per-user socket event limit (not dm:send's, nor typing's one per second). */
  eventRateScale: number;
  /** Requests of one socket awaiting their ack; more are refused with RATE_LIMITED. */
  socketMaxInFlight: number;
  /** HTTP limits: per user on routes with a user token, per client address on the others. */
  httpRate: {
    perUser: { perSecond: number; burst: number };
    perAddress: { perSecond: number; burst: number };
    /** Client addresses the per-address limit leaves alone (loopback by default: local tools and tests). */
    exemptCidrs: string[];
  };
}

/** The `call:ending-soon` lead time when CALL_WARNING_BEFORE_MS is unset: 60 s, or half of a shorter cap. */
export function defaultWarningBeforeMs(maxDurationMs: number): number {
  return Math.min(60_000, Math.floor(maxDurationMs / 2));
}

/** Variables whose values are never printed, only whether they are set. */
const SECRET_VARIABLES = new Set(['ADMIN_TOKEN', 'ADMIN_TOKENS', 'JWT_SECRET', 'AUTH_API_KEY', 'METRICS_TOKEN']);
/** URL variables that may carry a password. */
const URL_VARIABLES_WITH_CREDENTIALS = new Set(['DATABASE_URL', 'REDIS_URL']);

/**
 * How a variable's value is shown in an error: the value as given, `(unset)`
 * when absent or empty, and for secrets only their length; a URL's password
 * is masked.
 */
export function describeVariableValue(variable: string, raw: string | undefined, effective?: unknown): string {
  if (raw === undefined || raw.trim() === '') return effective === undefined ? '(unset)' : `(unset: default ${effective})`;
  if (SECRET_VARIABLES.has(variable) || /SECRET|TOKEN|PASSWORD|API_KEY/.test(variable)) {
    return `(set, ${raw.trim().length} characters, not shown)`;
  }
  if (URL_VARIABLES_WITH_CREDENTIALS.has(variable)) return JSON.stringify(maskUrlPassword(raw.trim()));
  return JSON.stringify(raw);
}

function maskUrlPassword(value: string): string {
  try {
    const url = new URL(value);
    if (url.password === '') return value;
    url.password = '***';
    return url.toString();
  } catch {
    // Not a URL: whatever sits between "//user:" and "@" may still be a password.
    return value.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
  }
}

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; expected: string; got?: string; effective?: unknown }[]) {
    super(
      'Invalid configuration:\n' +
        problems.map((p) => `  ${p.variable}=${describeVariableValue(p.variable, p.got, p.effective)}: expected ${p.expected}`).join('\n'),
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
        const effective = i.code === z.ZodIssueCode.custom ? i.params?.effective : undefined;
        return { variable, expected: i.message, got: env[variable], effective };
      }),
    );
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const host = e.HOST as string;
  // Handle login and plain RTP are for a machine of one's own: reachable from elsewhere, they are off unless asked for.
  const openDefault = !production && isLoopbackAddress(host);
  return {
    production,
    role: e.NODE_ROLE,
    port: e.PORT,
    host,
    corsOrigins: e.CORS_ORIGINS,
    metricsToken: e.METRICS_TOKEN,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    databaseStatementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
    databaseAcquireTimeoutMs: e.DATABASE_ACQUIRE_TIMEOUT_MS,
    adminToken: e.ADMIN_TOKEN,
    adminTokens: [...(e.ADMIN_TOKEN === undefined ? [] : [{ name: 'admin', token: e.ADMIN_TOKEN }]), ...e.ADMIN_TOKENS],
    jwtSecret: e.JWT_SECRET,
    calls: {
      ringTimeoutMs: e.CALL_RING_TIMEOUT_MS,
      maxDurationMs: e.CALL_MAX_DURATION_MS,
      warningBeforeMs: e.CALL_WARNING_BEFORE_MS ?? defaultWarningBeforeMs(e.CALL_MAX_DURATION_MS),
      reconnectGraceMs: e.CALL_RECONNECT_GRACE_MS,
      qualityIntervalMs: e.CALL_QUALITY_INTERVAL_MS,
    },
    media: {
      listenIp: e.MEDIA_LISTEN_IP as string,
      announcedIp: e.MEDIA_ANNOUNCED_IP,
      minPort: e.MEDIA_MIN_PORT,
      maxPort: e.MEDIA_MAX_PORT,
      workers: e.MEDIA_WORKERS,
      webRtcPort: e.MEDIA_WEBRTC_PORT,
      requestTimeoutMs: e.MEDIA_REQUEST_TIMEOUT_MS,
      recoveryTimeoutMs: e.MEDIA_RECOVERY_TIMEOUT_MS,
      heartbeatMs: e.MEDIA_HEARTBEAT_MS,
      heartbeatTtlMs: e.MEDIA_HEARTBEAT_TTL_MS,
      recoverySweepMs: e.MEDIA_RECOVERY_SWEEP_MS,
      recoveryConcurrency: e.MEDIA_RECOVERY_CONCURRENCY,
      plainRtp: parseBool(e.MEDIA_PLAIN_RTP, openDefault),
      plainRtpAllowedCidrs: e.MEDIA_PLAIN_RTP_ALLOWED_CIDRS,
    },
    redisUrl: e.REDIS_URL,
    auth: {
      devLogin: parseBool(e.AUTH_DEV_LOGIN, openDefault),
      apiKey: e.AUTH_API_KEY,
      tokenTtlS: e.AUTH_TOKEN_TTL_S,
    },
    maxSocketsPerUser: e.MAX_SOCKETS_PER_USER,
    socketPlaceLeaseMs: e.SOCKET_PLACE_LEASE_MS,
    logLevel: e.LOG_LEVEL,
    embeddedPostgres: { dir: e.EMBEDDED_PG_DIR, port: e.EMBEDDED_PG_PORT },
    dmRate: { perSecond: e.DM_RATE_PER_SEC, burst: e.DM_RATE_BURST },
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS ?? (production ? 5000 : 0),
    eventRateScale: e.EVENT_RATE_SCALE,
    socketMaxInFlight: e.SOCKET_MAX_IN_FLIGHT,
    httpRate: {
      perUser: { perSecond: e.HTTP_USER_RATE_PER_SEC, burst: e.HTTP_USER_RATE_BURST },
      perAddress: { perSecond: e.HTTP_ADDRESS_RATE_PER_SEC, burst: e.HTTP_ADDRESS_RATE_BURST },
      exemptCidrs: e.HTTP_RATE_EXEMPT_CIDRS,
    },
  };
}
