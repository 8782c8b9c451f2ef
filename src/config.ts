// Every environment variable the service reads is parsed and validated here, once, at start-up.
// Nothing else reads process.env: the parsed Config is passed to whatever needs it.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface Category {
  name: string;
  tags: { tag: string; label: string }[];
}

export interface ScoreAction {
  points: number;
  /** 'chat': awarded once per user and chat; 'always': every time. */
  once: 'chat' | 'always';
}

export interface FcmCredentials {
  projectId: string;
  clientEmail: string;
  privateKey: string;
  tokenUri: string;
}

export interface Config {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  /** Base URL clients reach this service at; used for local upload URLs. */
  publicUrl: string;
  dataDir: string;
  logLevel: string;
  corsOrigins: string[] | true;
  bodyLimit: number;
  database: { url: string | null; poolSize: number; prepare: boolean; pgliteDir: string | null };
  redis: { url: string | null };
  jwt: {
    secret: string | null;
    jwksUrl: string | null;
    issuer: string | null;
    audience: string | null;
    expiresIn: string;
  };
  storage:
    | { kind: 'local'; dir: string; publicUrl: string }
    | {
        kind: 's3';
        endpoint: string | null;
        region: string;
        bucket: string;
        accessKeyId: string | null;
        secretAccessKey: string | null;
        publicUrl: string;
        forcePathStyle: boolean;
        presignExpiresSeconds: number;
      };
  push: {
    fcm: (FcmCredentials & { baseUrl: string }) | null;
    workerIntervalMs: number;
    maxAttempts: number;
    /** Sent and given-up outbox rows are deleted after this many hours. */
    retentionHours: number;
  };
  limits: {
    uploadMaxBytes: number;
    photoMaxBytes: number;
    unreadCap: number;
    /** Chats of up to this many participants get their activity order rewritten in the message's transaction. */
    activityInlineMax: number;
    /** Larger chats: the most their participants' order lags behind a message (src/messages/activity.ts). */
    activityRefreshMs: number;
    /** Larger chats: participants per statement of that rewrite. */
    activityRefreshBatch: number;
    rateLimitPerMinute: number;
  };
  realtime: { presenceTtlSeconds: number; recoveryWindowMs: number };
  /** GET /chats answers kept in memory (src/chats/list-cache.ts); users 0 = off. */
  chatListCache: { users: number; ttlMs: number };
  catalog: { categories: Category[] };
  score: { actions: Record<string, ScoreAction> };
  trending: { windowDays: number; messageWeight: number; reelWeight: number; joinWeight: number };
  shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const DEFAULT_CATEGORIES: Category[] = [
  {
    name: 'Study',
    tags: [
      { tag: 'exams', label: 'Exams' },
      { tag: 'lectures', label: 'Lectures & Summaries' },
    ],
  },
  ...['Courses', 'Event', 'Sports', 'Music', 'Gaming', 'Party', 'Social', 'Other'].map((name) => ({
    name,
    tags: [],
  })),
];

const DEFAULT_SCORE_ACTIONS: Record<string, ScoreAction> = {
  'join-group-chat': { points: 5, once: 'chat' },
};

function str(env: Env, name: string): string | null {
  const v = env[name];
  return v === undefined || v.trim() === '' ? null : v.trim();
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === null) return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function num(env: Env, name: string, fallback: number): number {
  const raw = str(env, name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new ConfigError(name, `must be a non-negative number, got "${raw}"`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = str(env, name);
  if (raw === null) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function url(env: Env, name: string, protocols: string[]): string | null {
  const raw = str(env, name);
  if (raw === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `must be a URL, got "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
  }
  return raw.replace(/\/+$/, '');
}

function json<T>(env: Env, name: string, fallback: T, check: (v: unknown) => v is T): T {
  const raw = str(env, name);
  if (raw === null) return fallback;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(name, 'must be valid JSON');
  }
  if (!check(parsed)) throw new ConfigError(name, 'has the wrong shape (see .env.example)');
  return parsed;
}

function isCategories(v: unknown): v is Category[] {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every(
      (c) =>
        c &&
        typeof c.name === 'string' &&
        c.name.length > 0 &&
        Array.isArray(c.tags) &&
        c.tags.every((t: any) => t && typeof t.tag === 'string' && typeof t.label === 'string'),
    )
  );
}

function isScoreActions(v: unknown): v is Record<string, ScoreAction> {
  return (
    !!v &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    Object.values(v).every(
      (a: any) => a && Number.isInteger(a.points) && (a.once === 'chat' || a.once === 'always'),
    )
  );
}

function fcmCredentials(env: Env): FcmCredentials | null {
  const raw = str(env, 'FCM_CREDENTIALS');
  if (raw === null) return null;
  let text = raw;
  if (!raw.startsWith('{')) {
    try {
      text = readFileSync(raw, 'utf8');
    } catch {
      throw new ConfigError('FCM_CREDENTIALS', `is neither JSON nor a readable file path: "${raw}"`);
    }
  }
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError('FCM_CREDENTIALS', 'is not valid service-account JSON');
  }
  const projectId = str(env, 'FCM_PROJECT_ID') ?? parsed.project_id;
  if (typeof parsed.client_email !== 'string' || typeof parsed.private_key !== 'string' || !projectId) {
    throw new ConfigError('FCM_CREDENTIALS', 'needs client_email, private_key and project_id');
  }
  return {
    projectId,
    clientEmail: parsed.client_email,
    privateKey: parsed.private_key,
    tokenUri: url(env, 'FCM_TOKEN_URL', ['http:', 'https:']) ?? parsed.token_uri ?? 'https://oauth2.googleapis.com/token',
  };
}

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = str(env, 'NODE_ENV') ?? 'development';
  if (!['development', 'production', 'test'].includes(nodeEnv)) {
    throw new ConfigError('NODE_ENV', `must be development, production or test, got "${nodeEnv}"`);
  }
  const port = int(env, 'PORT', 3000, 0, 65535);
  const host = str(env, 'HOST') ?? '0.0.0.0';
  const dataDir = path.resolve(str(env, 'DATA_DIR') ?? './data');
  const publicUrl =
    url(env, 'PUBLIC_URL', ['http:', 'https:']) ?? `http://${host === '0.0.0.0' ? 'localhost' : host}:${port}`;

  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const jwtSecret = str(env, 'JWT_SECRET');
  if (jwtSecret !== null && jwtSecret.length < 32) {
    throw new ConfigError('JWT_SECRET', 'must be at least 32 characters');
  }
  const jwksUrl = url(env, 'JWT_JWKS_URL', ['http:', 'https:']);
  if (nodeEnv === 'production' && !jwtSecret && !jwksUrl) {
    throw new ConfigError('JWT_SECRET', 'or JWT_JWKS_URL is required when NODE_ENV=production');
  }

  const bucket = str(env, 'S3_BUCKET');
  let storage: Config['storage'];
  if (bucket) {
    if (bucket.length < 3) throw new ConfigError('S3_BUCKET', 'must be at least 3 characters');
    const s3PublicUrl = url(env, 'S3_PUBLIC_URL', ['http:', 'https:']);
    if (!s3PublicUrl) throw new ConfigError('S3_PUBLIC_URL', 'is required when S3_BUCKET is set');
    storage = {
      kind: 's3',
      endpoint: url(env, 'S3_ENDPOINT', ['http:', 'https:']),
      region: str(env, 'S3_REGION') ?? 'auto',
      bucket,
      accessKeyId: str(env, 'S3_ACCESS_KEY_ID'),
      secretAccessKey: str(env, 'S3_SECRET_ACCESS_KEY'),
      publicUrl: s3PublicUrl,
      forcePathStyle: bool(env, 'S3_FORCE_PATH_STYLE', true),
      presignExpiresSeconds: int(env, 'S3_PRESIGN_EXPIRES_SECONDS', 900, 60, 604800),
    };
  } else {
    storage = {
      kind: 'local',
      dir: path.resolve(str(env, 'UPLOADS_DIR') ?? path.join(dataDir, 'uploads')),
      publicUrl: `${publicUrl}/uploads`,
    };
  }

  const fcm = fcmCredentials(env);
  const cors = str(env, 'CORS_ORIGINS');

  return {
    env: nodeEnv as Config['env'],
    host,
    port,
    publicUrl,
    dataDir,
    logLevel: str(env, 'LOG_LEVEL') ?? (nodeEnv === 'test' ? 'silent' : 'info'),
    corsOrigins: cors === null || cors === '*' ? true : cors.split(',').map((o) => o.trim()),
    bodyLimit: int(env, 'BODY_LIMIT_BYTES', 1024 * 1024, 1024, 100 * 1024 * 1024),
    database: {
      url: databaseUrl,
      poolSize: int(env, 'DATABASE_POOL_SIZE', 10, 1, 500),
      prepare: bool(env, 'DATABASE_PREPARE', true),
      pgliteDir: databaseUrl ? null : path.resolve(str(env, 'PGLITE_DIR') ?? path.join(dataDir, 'db')),
    },
    redis: { url: url(env, 'REDIS_URL', ['redis:', 'rediss:']) },
    jwt: {
      secret: jwtSecret,
      jwksUrl,
      issuer: str(env, 'JWT_ISSUER'),
      audience: str(env, 'JWT_AUDIENCE'),
      expiresIn: str(env, 'JWT_EXPIRES_IN') ?? '30d',
    },
    storage,
    push: {
      fcm: fcm
        ? { ...fcm, baseUrl: url(env, 'FCM_BASE_URL', ['http:', 'https:']) ?? 'https://fcm.googleapis.com' }
        : null,
      workerIntervalMs: int(env, 'PUSH_WORKER_INTERVAL_MS', 1000, 10, 600000),
      maxAttempts: int(env, 'PUSH_MAX_ATTEMPTS', 8, 1, 100),
      retentionHours: int(env, 'PUSH_RETENTION_HOURS', 24, 1, 24 * 365),
    },
    limits: {
      uploadMaxBytes: int(env, 'UPLOAD_MAX_BYTES', 100 * 1024 * 1024, 1024, 5 * 1024 * 1024 * 1024),
      photoMaxBytes: int(env, 'PHOTO_MAX_BYTES', 10 * 1024 * 1024, 1024, 100 * 1024 * 1024),
      unreadCap: int(env, 'UNREAD_CAP', 999, 1, 1_000_000),
      activityInlineMax: int(env, 'ACTIVITY_INLINE_MAX', 64, 0, 1_000_000),
      activityRefreshMs: int(env, 'ACTIVITY_REFRESH_MS', 1000, 0, 60_000),
      activityRefreshBatch: int(env, 'ACTIVITY_REFRESH_BATCH', 100, 1, 100_000),
      rateLimitPerMinute: int(env, 'RATE_LIMIT_PER_MINUTE', 0, 0, 1_000_000),
    },
    realtime: {
      presenceTtlSeconds: int(env, 'PRESENCE_TTL_SECONDS', 30, 3, 3600),
      recoveryWindowMs: int(env, 'SOCKET_RECOVERY_WINDOW_MS', 2 * 60 * 1000, 0, 24 * 3600 * 1000),
    },
    chatListCache: {
      users: int(env, 'CHAT_LIST_CACHE_USERS', 10_000, 0, 10_000_000),
      ttlMs: int(env, 'CHAT_LIST_CACHE_TTL_MS', 60_000, 1, 24 * 3600 * 1000),
    },
    catalog: { categories: json(env, 'CHAT_CATEGORIES', DEFAULT_CATEGORIES, isCategories) },
    score: { actions: json(env, 'SCORE_ACTIONS', DEFAULT_SCORE_ACTIONS, isScoreActions) },
    trending: {
      windowDays: int(env, 'TRENDING_WINDOW_DAYS', 7, 1, 365),
      messageWeight: num(env, 'TRENDING_MESSAGE_WEIGHT', 1),
      reelWeight: num(env, 'TRENDING_REEL_WEIGHT', 3),
      joinWeight: num(env, 'TRENDING_JOIN_WEIGHT', 1),
    },
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10000, 100, 600000),
  };
}
