// Builds the service from its parts. main.ts and the tests both call buildApp, so the tests run
// the same app users run.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { PGlite } from '@electric-sql/pglite';
import type { TSchema } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchema,
  type FastifySchemaCompiler,
  type FastifySchemaValidationError,
} from 'fastify';
import { authenticate } from './auth/hook.js';
import { createTokenService } from './auth/tokens.js';
import { ChatListCache } from './chats/list-cache.js';
import { UpdateChatMultipart } from './chats/routes.js';
import { UploadMultipart } from './messages/routes.js';
import type { Config } from './config.js';
import { openDatabase, type Database } from './db/client.js';
import { createPushWorker, type PushWorker } from './push/worker.js';
import { LoggingPushSender, type PushSender } from './push/sender.js';
import { FcmPushSender } from './push/fcm.js';
import { LocalPresence } from './realtime/presence-local.js';
import { RedisPresence } from './realtime/presence-redis.js';
import {
  closeRedis,
  connectChatListBus,
  connectRedis,
  createSocketAdapter,
  listsHearRemoteEvents,
  pingRedis,
  type ChatListBus,
  type Redis,
} from './realtime/redis.js';
import { registerRateLimit } from './ratelimit/plugin.js';
import type { Presence } from './realtime/port.js';
import { createSocketServer, viewerSocketRoom, type SocketServer } from './realtime/server.js';
import { AppError, errorBody, ErrorBody, ErrorCode, isUnavailable } from './shared/errors.js';
import type { Deps } from './shared/deps.js';
import { storableDateTime, unstorableText } from './shared/schemas.js';
import { createActivityRefresher } from './messages/activity.js';
import { ChatMembers } from './messages/members.js';
import { createObjectDeleter } from './storage/deleter.js';
import { LocalStorage } from './storage/local.js';
import { S3Storage } from './storage/s3.js';
import type { Storage } from './storage/port.js';
import { registerPublicRoutes, registerRoutes } from './routes.js';
import { chatPeers, contactsOf } from './realtime/queries.js';
import { existingUserIds } from './users/queries.js';

export type App = FastifyInstance<any, any, any, any, TypeBoxTypeProvider>;

export interface BuildOptions {
  config: Config;
  /** Tests share one migrated PGlite per worker. */
  pglite?: PGlite;
  /** Skip migrations (tests migrate once in their setup). */
  migrate?: boolean;
  pushSender?: PushSender;
  storage?: Storage;
}

export interface Service {
  app: App;
  deps: Deps;
  socket: SocketServer;
}

export async function buildApp(options: BuildOptions): Promise<Service> {
  const { config } = options;
  const app = Fastify({
    logger: { level: config.logLevel, redact: ['req.headers.authorization'] },
    bodyLimit: config.bodyLimit,
    trustProxy: true,
    genReqId: () => crypto.randomUUID(),
    // While shutting down, a request that still arrives on a kept-alive connection is served (with
    // Connection: close) rather than answered by Fastify's built-in 503, whose body has no `code`
    // (rulings.md 4); the database stays open until every connection has ended.
    return503OnClosing: false,
    // find-my-way answers 414 to a path parameter over 100 characters by default; an FCM token in
    // DELETE /devices/:token is ~160-250 (bounded to 4096 by its schema).
    routerOptions: { maxParamLength: 5000 },
    clientErrorHandler: answerClientError,
    ajv: { customOptions: {} },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  setValidation(app);
  setErrorHandling(app);
  // Before anything that needs closing: bad FCM credentials stop start-up here.
  const pushSender = options.pushSender ?? (await createPushSender(config, app.log));

  const database = await openDatabase({ ...config.database, pglite: options.pglite });
  if (options.migrate !== false) await database.migrate();

  const ownStorage = options.storage ? null : createStorage(config);
  const storage = options.storage ?? ownStorage!;
  const tokens = createTokenService(config, {
    userExists: async (userId) => (await existingUserIds(database.db, [userId])).has(userId),
  });
  const log = app.log;
  // REDIS_URL: fan-out, presence, rate-limit counters and socket sessions span all nodes.
  const redis: Redis | null = config.redis.url ? await connectRedis(config.redis.url, log) : null;
  let presence: Presence = new LocalPresence();
  if (redis) {
    const redisPresence = new RedisPresence(redis, { ttlSeconds: config.realtime.presenceTtlSeconds, log });
    await redisPresence.start();
    presence = redisPresence;
  }
  // GET /chats answers in memory; with Redis, invalidations reach every node (src/chats/list-cache.ts).
  const chatLists = new ChatListCache({ maxUsers: config.chatListCache.users, ttlMs: config.chatListCache.ttlMs });
  const chatListBus: ChatListBus | null = redis ? await connectChatListBus(redis, chatLists, log) : null;
  const pushWorker: PushWorker = createPushWorker(database, pushSender, log, {
    intervalMs: config.push.workerIntervalMs,
    maxAttempts: config.push.maxAttempts,
    retentionHours: config.push.retentionHours,
  });
  const objectDeleter = createObjectDeleter(database, storage, log);

  const chatMembers = new ChatMembers();
  const socket = createSocketServer({
    httpServer: app.server,
    tokens,
    presence,
    log,
    corsOrigins: config.corsOrigins,
    recoveryWindowMs: config.realtime.recoveryWindowMs,
    adapter: redis ? createSocketAdapter(redis, log) : undefined,
    contactsOf: (userId) => contactsOf(database.db, userId),
    chatLists,
    chatPeers: (chatId, userId) => chatPeers(database.db, chatMembers, chatId, userId),
  });
  if (redis) listsHearRemoteEvents(socket.io.of('/').adapter, chatLists);

  const activity = createActivityRefresher(database, chatLists, log, {
    delayMs: config.limits.activityRefreshMs,
    sweepMs: ACTIVITY_SWEEP_MS,
    batch: config.limits.activityRefreshBatch,
  });
  const deps: Deps = {
    config,
    database,
    realtime: socket,
    chatLists,
    activity,
    chatMembers,
    storage,
    pushWorker,
    objectDeleter,
    tokens,
    log,
  };

  await app.register(cors, {
    origin: config.corsOrigins,
    credentials: true,
    // @fastify/cors allows GET, HEAD and POST only by default: a browser would refuse every PUT and
    // DELETE route after its preflight.
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
    // What a web client reads on a 429 or 503 to know when to try again.
    exposedHeaders: ['Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
    maxAge: 600,
    // An OPTIONS request that is not a browser preflight gets the same answer rather than a
    // text/plain 400 without a code (rulings.md 4).
    strictPreflight: false,
  });
  // Before every route: the limit hooks onto routes as they are declared.
  await registerRateLimit(app, { perMinute: config.limits.rateLimitPerMinute, redis });
  await app.register(multipart, {
    limits: { fileSize: config.limits.uploadMaxBytes, files: 1, fields: 20, fieldSize: 64 * 1024 },
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Chat service', version: '1.0.0', description: 'The chats API (see shared/spec).' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    transform: ({ schema, url, route }) => ({ url, schema: documentedSchema(schema, `${route.method} ${url}`) }),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  if (storage instanceof LocalStorage) serveLocalUploads(app, storage);

  // Load balancers poll it: never rate limited. 503 when a configured dependency is down.
  app.get('/health', { schema: { hide: false, tags: ['health'] }, config: { rateLimit: false } }, async (_request, reply) => {
    const [db, redisState] = await Promise.all([
      database.ping().then(
        () => 'ok' as const,
        () => 'down' as const,
      ),
      redis ? pingRedis(redis) : ('off' as const),
    ]);
    const healthy = db === 'ok' && redisState !== 'down';
    const body = { status: healthy ? 'ok' : 'degraded', db, redis: redisState };
    return reply.code(healthy ? 200 : 503).send(body);
  });

  await app.register(async (scope) => {
    scope.addHook('onRequest', authenticate(tokens));
    scope.addHook('preHandler', ownSocketOnly);
    await registerRoutes(scope as App, deps);
  });
  await registerPublicRoutes(app, deps);

  pushWorker.start();
  objectDeleter.start(Math.max(1000, config.push.workerIntervalMs));
  activity.start();

  // Shutdown (main.ts, SIGTERM): preClose ends the socket connections (open websockets would keep
  // the HTTP server from closing); Fastify then stops accepting and lets in-flight requests
  // finish; onClose stops the workers after their current pass, then Redis and the database.
  // Responses sent while draining say Connection: close, so a kept-alive connection (a load
  // balancer's) ends after its in-flight request instead of holding the shutdown open.
  let draining = false;
  app.addHook('onSend', async (_request, reply, payload) => {
    if (draining) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('preClose', async () => {
    draining = true;
    await socket.drain();
  });
  app.addHook('onClose', async () => {
    await socket.close();
    await pushWorker.stop();
    await objectDeleter.stop();
    await activity.stop();
    ownStorage?.close?.();
    await chatListBus?.close();
    if (redis) await closeRedis(redis);
    await database.close();
  });

  return { app, deps, socket };
}

function createStorage(config: Config): Storage {
  if (config.storage.kind === 'local') return new LocalStorage(config.storage.dir, config.storage.publicUrl);
  return new S3Storage(config.storage);
}

/** FCM HTTP v1 when FCM_CREDENTIALS is set; otherwise pushes are only logged (DESIGN.md). */
async function createPushSender(config: Config, log: App['log']): Promise<PushSender> {
  if (!config.push.fcm) return new LoggingPushSender(log);
  const sender = new FcmPushSender(config.push.fcm, { log });
  await sender.checkCredentials();
  return sender;
}

/**
 * Body schemas are strict (no coercion: a number sent as a string is a 400), while query strings
 * and path params arrive as text and are coerced (rulings.md 6).
 */
function setValidation(app: App) {
  const common = { allErrors: false, useDefaults: true, removeAdditional: false as const, strict: false };
  const bodyAjv = addFormats.default(new Ajv({ ...common, coerceTypes: false }));
  const textAjv = addFormats.default(new Ajv({ ...common, coerceTypes: 'array' }));
  for (const ajv of [bodyAjv, textAjv]) {
    const rfc3339 = ajv.formats['date-time'] as { validate: (text: string) => boolean };
    ajv.addFormat('date-time', { type: 'string', validate: (text: string) => rfc3339.validate(text) && storableDateTime(text) });
  }
  app.setValidatorCompiler(({ schema, httpPart }) =>
    refusingUnstorable(httpPart === 'body' ? bodyAjv.compile(schema) : textAjv.compile(schema)),
  );
  // A JSON content type with an empty body is read as no body, as if the header were not sent:
  // some HTTP clients set `Content-Type: application/json` on every request, bodyless ones too
  // (POST /chats/:id/read). Any other body goes to Fastify's own parser (prototype keys refused).
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else json(request, body as string, done);
  });
  // A request sent without any body is validated as `{}`: a body of optional fields only, such as
  // {socket?} (rulings.md 7), may be left out, and a missing required field is named as usual.
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined && request.routeOptions.schema?.body) request.body = {};
  });
}

/**
 * rulings.md 7: `socket` names the viewer's own socket. Once validated, the body's value becomes
 * the room only that socket of the viewer is in (viewerSocketRoom), which the services hand on as
 * the events' exceptSocket: the id of somebody else's socket keeps nobody from an event.
 * (PUT /chats/:id reads its form in the handler, after this hook: src/chats/routes.ts readUpdateForm.)
 */
async function ownSocketOnly(request: FastifyRequest) {
  const body = request.body as { socket?: unknown } | null | undefined;
  if (body && typeof body === 'object' && typeof body.socket === 'string') {
    body.socket = viewerSocketRoom(request.userId, body.socket);
  }
}

/** The multipart forms, which their handlers read themselves: shown as request bodies in the document only. */
const MULTIPART_FORMS: Record<string, TSchema> = {
  'PUT /chats/:id': UpdateChatMultipart,
  'POST /chats/:id/uploads': UploadMultipart,
};

/**
 * A route's schema as the OpenAPI document shows it (never what validates or serializes): every
 * route's error answer, and the multipart forms. Hidden routes stay as they are.
 */
function documentedSchema(schema: FastifySchema & { hide?: boolean }, route: string): FastifySchema {
  if (!schema || schema.hide) return schema;
  const form = MULTIPART_FORMS[route];
  return {
    ...schema,
    ...(form ? { body: form } : {}),
    response: { ...(schema.response as object), default: ErrorBody },
  };
}

/** How deep a request value may nest: only free-form objects (a file's `meta`) can go past the schemas. */
export const MAX_NESTING = 32;

/**
 * What the schemas cannot say about a request's body, query or path, checked once they have passed,
 * as a 400 naming the field (rulings.md 4) rather than a statement or a stack that fails with a 500:
 * - a string or key PostgreSQL cannot store (unstorableText: U+0000, a lone surrogate), at any depth;
 * - a free-form object nested deeper than MAX_NESTING (thousands of levels fit in the body limit).
 */
function refusingUnstorable(validate: ValidateFunction): ReturnType<FastifySchemaCompiler<unknown>> {
  const check: ReturnType<FastifySchemaCompiler<unknown>> & { schemaEnv?: unknown } = (data: unknown, context?: Parameters<ValidateFunction>[1]) => {
    if (!validate(data, context)) {
      check.errors = validate.errors as FastifySchemaValidationError[];
      return false;
    }
    const problem = unstorableAt(data);
    check.errors = problem && [{ keyword: 'storable', instancePath: problem.at, schemaPath: '#', params: {}, message: problem.message }];
    return problem === null;
  };
  // Fastify hands an Ajv function its parent data (so that it may coerce a root value) by this mark.
  check.schemaEnv = validate.schemaEnv;
  return check;
}

/** The JSON pointer and message of the first unstorable part of `value` (refusingUnstorable), or null. */
function unstorableAt(value: unknown): { at: string; message: string } | null {
  // A stack of its own rather than recursion, which a deep enough value would overflow; popped in
  // document order.
  const pending: [item: unknown, at: string, depth: number][] = [[value, '', 0]];
  while (pending.length > 0) {
    const [item, at, depth] = pending.pop()!;
    if (typeof item === 'string') {
      const message = unstorableText(item);
      if (message) return { at, message };
      continue;
    }
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= MAX_NESTING) return { at, message: `must not nest deeper than ${MAX_NESTING} levels` };
    const entries = Object.entries(item);
    for (const [key] of entries) {
      const message = unstorableText(key);
      if (message) return { at: `${at}/${key}`, message };
    }
    for (let i = entries.length - 1; i >= 0; i--) pending.push([entries[i][1], `${at}/${entries[i][0]}`, depth + 1]);
  }
  return null;
}

function fieldOf(error: FastifyError): string {
  const v = error.validation?.[0];
  if (!v) return error.validationContext ?? 'body';
  const params = v.params as { missingProperty?: string; additionalProperty?: string };
  const segments = v.instancePath.split('/').filter(Boolean);
  if (params.missingProperty) segments.push(params.missingProperty);
  if (params.additionalProperty) segments.push(params.additionalProperty);
  return segments.join('.') || (error.validationContext ?? 'body');
}

/**
 * What Node's HTTP parser refuses before any route runs (headers over the size limit, a request
 * too slow to arrive, bytes that are not HTTP) gets the same error body as every other error
 * (rulings.md 4), written on the socket as Fastify's own handler does, but with a `code`.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message]: [number, ErrorCode, string] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'HEADERS_TOO_LARGE', 'The request headers are larger than the server accepts']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT', 'The request did not arrive in time']
        : [400, 'BAD_REQUEST', 'The request is not valid HTTP'];
  const body = JSON.stringify(errorBody(status, code, message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

function setErrorHandling(app: App) {
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    reply
      .code(404)
      .send(errorBody(404, 'ROUTE_NOT_FOUND', `Route ${request.method} ${request.url.split('?')[0]} not found`, { requestId: request.id }));
  });

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const requestId = request.id;
    if (error instanceof AppError) {
      return reply
        .code(error.statusCode)
        .send(errorBody(error.statusCode, error.code, error.message, { ...error.details, requestId }));
    }
    if (error.validation) {
      const field = fieldOf(error);
      const v = error.validation[0];
      const params = v?.params as { additionalProperty?: string } | undefined;
      const message = params?.additionalProperty
        ? `${field} is not allowed`
        : `${field} ${v?.message ?? 'is invalid'}`;
      return reply.code(400).send(errorBody(400, 'VALIDATION_FAILED', message, { field, requestId }));
    }
    const status = error.statusCode ?? 500;
    const mapped = mapFrameworkError(error.code, status);
    if (mapped) {
      return reply.code(mapped.status).send(errorBody(mapped.status, mapped.code, error.message, { requestId }));
    }
    if (isMalformedMultipart(error)) {
      const message = `malformed multipart body: ${error.message}`;
      return reply.code(400).send(errorBody(400, 'VALIDATION_FAILED', message, { field: 'body', requestId }));
    }
    if (isUnavailable(error)) {
      request.log.warn({ err: error }, 'a dependency is unavailable');
      return reply
        .code(503)
        .header('retry-after', '1')
        .send(errorBody(503, 'SERVICE_UNAVAILABLE', 'A service this request needs cannot be reached right now; retry shortly', { requestId }));
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errorBody(500, 'INTERNAL_ERROR', 'Internal server error', { requestId }));
  });
}

/**
 * A multipart body its parser cannot read (cut off before its closing boundary, no boundary in the
 * Content-Type): busboy (under @fastify/multipart) fails with plain Errors that carry only these
 * messages, when the route reads the parts, or inside the upload's stream (then maybe as a cause).
 */
const MALFORMED_MULTIPART = /^Multipart: |unexpected end of multipart data$/i;

function isMalformedMultipart(error: unknown): error is Error {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++) {
    if (MALFORMED_MULTIPART.test(e.message)) return true;
  }
  return false;
}

function mapFrameworkError(code: string | undefined, status: number): { status: number; code: ErrorCode } | null {
  switch (code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'INVALID_JSON' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return { status: 413, code: 'PAYLOAD_TOO_LARGE' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' };
  }
  if (status === 429) return { status, code: 'RATE_LIMITED' };
  if (status >= 400 && status < 500) {
    if (status === 401) return { status, code: 'UNAUTHORIZED' };
    if (status === 404) return { status, code: 'NOT_FOUND' };
    if (status === 413) return { status, code: 'PAYLOAD_TOO_LARGE' };
    if (status === 415) return { status, code: 'UNSUPPORTED_MEDIA_TYPE' };
    return { status: 400, code: 'VALIDATION_FAILED' };
  }
  return null;
}

/**
 * How often each node looks for chats whose participants' order a dead node left to rewrite
 * (src/messages/activity.ts); until then only the order of those chats in the lists lags.
 */
const ACTIVITY_SWEEP_MS = 5000;

const CONTENT_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.gif': 'image/gif', '.webp': 'image/webp',
  '.avif': 'image/avif', '.mp4': 'video/mp4', '.mov': 'video/quicktime', '.webm': 'video/webm',
  '.mp3': 'audio/mpeg', '.m4a': 'audio/mp4', '.ogg': 'audio/ogg', '.wav': 'audio/wav', '.pdf': 'application/pdf',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The local storage's objects, at /uploads/<key>. Keys that could leave the folder are 404s. One
 * byte range is served as 206 (iOS players ask for ranges and play no video without them); files
 * are not rate limited (a chat full of images behind one address would use up its limit).
 */
function serveLocalUploads(app: App, storage: LocalStorage) {
  app.get('/uploads/*', { schema: { hide: true }, config: { rateLimit: false } }, async (request, reply) => {
    const key = (request.params as { '*': string })['*'];
    const file = storage.pathOf(key);
    const info = file ? await stat(file).catch(() => null) : null;
    if (!file || !info?.isFile()) throw new AppError('NOT_FOUND', 'No such file');
    reply.header('content-type', CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream');
    reply.header('cache-control', 'public, max-age=31536000, immutable');
    reply.header('accept-ranges', 'bytes');
    reply.header('x-content-type-options', 'nosniff');
    const range = byteRange(request.headers.range, info.size);
    if (range === 'unsatisfiable') {
      reply.header('content-range', `bytes */${info.size}`);
      throw new AppError('RANGE_NOT_SATISFIABLE', `The file has ${info.size} bytes`);
    }
    if (!range) {
      reply.header('content-length', info.size);
      return reply.send(createReadStream(file));
    }
    reply.code(206);
    reply.header('content-range', `bytes ${range.start}-${range.end}/${info.size}`);
    reply.header('content-length', range.end - range.start + 1);
    return reply.send(createReadStream(file, range));
  });
}

/**
 * The one range of a `Range: bytes=…` header within a file of `size` bytes, or null to send the
 * whole file: no header, another unit, several ranges or a malformed one (RFC 9110 14.2 lets a
 * server ignore those), or 'unsatisfiable' when it starts past the end.
 */
function byteRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') {
    // bytes=-N: the last N bytes.
    const suffix = Number(match[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const last = match[2] === '' ? Infinity : Number(match[2]);
  if (last < start) return null;
  return start >= size ? 'unsatisfiable' : { start, end: Math.min(last, size - 1) };
}

export type { Database };
