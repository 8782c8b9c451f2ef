// One error type, one closed set of codes (rulings.md 4). Services throw AppError; the one
// error handler in app.ts turns it, and Fastify's own errors, into the error body.
import { STATUS_CODES } from 'node:http';
import { Type, type Static } from '@sinclair/typebox';

export const ErrorCode = {
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  INVALID_ID: 400,
  INVALID_CONNECTION: 400,
  /** A request that is not HTTP the server can read (src/app.ts answerClientError). */
  BAD_REQUEST: 400,
  NOT_A_GROUP: 400,
  NOT_ONE_TO_ONE: 400,
  /** POST /chats/:id/requests on a chat anyone may join directly (POST /chats/:id/participants). */
  NOT_RESTRICTED: 400,
  /** POST /chats/:id/participants/:participantId/status on a chat without an event. */
  NOT_AN_EVENT_CHAT: 400,
  /** POST /chats/:id/uploads/presign on a deployment without S3 storage. */
  DIRECT_UPLOAD_UNAVAILABLE: 400,
  UNAUTHORIZED: 401,
  INVALID_CREDENTIALS: 401,
  FORBIDDEN: 403,
  NOT_A_PARTICIPANT: 403,
  NOT_AN_ADMIN: 403,
  CANNOT_REMOVE_OWN_ADMIN: 403,
  NOT_THE_SENDER: 403,
  BLOCKED: 403,
  RESTRICTED: 403,
  NOT_FOLLOWED: 403,
  POSTING_NOT_ALLOWED: 403,
  EVENT_NOT_ACTIVE: 403,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  CHAT_NOT_FOUND: 404,
  PARTICIPANT_NOT_FOUND: 404,
  MESSAGE_NOT_FOUND: 404,
  CONNECTION_NOT_FOUND: 404,
  EVENT_NOT_FOUND: 404,
  REQUEST_NOT_FOUND: 404,
  REEL_NOT_FOUND: 404,
  USERNAME_TAKEN: 409,
  ALREADY_PARTICIPANT: 409,
  LAST_ADMIN: 409,
  REQUEST_PENDING: 409,
  CONNECTION_EXISTS: 409,
  CONFLICT: 409,
  REQUEST_TIMEOUT: 408,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ErrorCode;

export class AppError extends Error {
  readonly statusCode: number;
  readonly details?: Record<string, unknown>;

  constructor(
    readonly code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
    this.statusCode = ErrorCode[code];
    this.details = details;
  }
}

/** Every error's body (rulings.md 4); the OpenAPI document shows it for each route (src/app.ts). */
export const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String(),
    code: Type.String({ description: 'stable UPPER_SNAKE code (src/shared/errors.ts)' }),
    message: Type.String(),
    field: Type.Optional(Type.String({ description: 'the offending field of a 400 VALIDATION_FAILED' })),
    requestId: Type.Optional(Type.String()),
  },
  { additionalProperties: true, description: 'An error (rulings.md 4)' },
);
export type ErrorBody = Static<typeof ErrorBody> & Record<string, unknown>;

export function errorBody(statusCode: number, code: string, message: string, extra?: Record<string, unknown>): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', code, message, ...extra };
}

/** PostgreSQL error code of a driver error (postgres.js and PGlite both expose `code`). */
export function pgErrorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

export const isUniqueViolation = (error: unknown) => pgErrorCode(error) === '23505';
export const isForeignKeyViolation = (error: unknown) => pgErrorCode(error) === '23503';

/** postgres.js and Node codes of a connection that failed, was refused, or went away. */
const CONNECTION_FAILURES = new Set([
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
]);

/**
 * The database (or another service the request needs) cannot be reached right now: the connection
 * failed or was cut, PostgreSQL is shutting down or starting (57P01-57P03), or has no connection
 * slot left (53300). The request is answered 503 SERVICE_UNAVAILABLE, not 500 (rulings.md 4).
 */
export function isUnavailable(error: unknown): boolean {
  const code = pgErrorCode(error);
  if (code === undefined) return false;
  return CONNECTION_FAILURES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P02'
    || code === '57P03' || code === '53300';
}
