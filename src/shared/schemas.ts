// Schemas shared by many routes. Types come from them (Static<>), never declared twice.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ID_PATTERN } from './ids.js';

export const Id = Type.String({ pattern: ID_PATTERN, description: '24-hex id (rulings.md 1)', examples: ['68d134f972f149b17a222c03'] });
export const DateTime = Type.String({ format: 'date-time', examples: ['2025-09-25T10:52:56.333Z'] });
/** URLs a client may store (message files and covers, reel videos, user photos): http(s) with a host, no javascript:, data: ... */
export const HttpUrl = Type.String({ format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]', maxLength: 2048 });

/**
 * Why PostgreSQL cannot store a string a client sent, or null: text and jsonb hold no U+0000, and
 * json no lone UTF-16 surrogate (a string cut through an emoji), which text columns would
 * silently turn into U+FFFD (two different passwords becoming one). A 400 naming the field.
 */
export function unstorableText(text: string): string | null {
  if (text.includes('\0')) return 'must not contain the NUL character (U+0000)';
  if (LONE_SURROGATE.test(text)) return 'must be well-formed Unicode (it has a lone UTF-16 surrogate)';
  return null;
}
/** In a /u expression a surrogate pair is one code point: only a lone surrogate matches. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Whether PostgreSQL's timestamptz takes an RFC 3339 date-time (`format: 'date-time'` checks this
 * besides the syntax, src/app.ts): it refuses the year 0000 and offsets beyond ±15:59, and a
 * moment before 0001-01-01T00:00:00Z would come back as a BC date.
 */
export function storableDateTime(text: string): boolean {
  const offset = /([+-])(\d\d):?(\d\d)$/.exec(text);
  if (offset && Number(offset[2]) > 15) return false;
  const year = Number(text.slice(0, 4));
  if (year === 0) return false;
  if (year === 1 && text.slice(5, 10) === '01-01' && offset?.[1] === '+') {
    const minutes = Number(text.slice(11, 13)) * 60 + Number(text.slice(14, 16));
    return minutes >= Number(offset[2]) * 60 + Number(offset[3]);
  }
  return true;
}

/** rulings.md 7: the requesting socket, excluded from the events it causes. */
export const SOCKET_ID_PATTERN = '^[A-Za-z0-9\\-_]{16,25}$';
export const SocketId = Type.String({ pattern: SOCKET_ID_PATTERN });
/**
 * The body of a write that takes no other field: none, or only the requesting `socket`. Every
 * write accepts `socket` (rulings.md 7 holds for all routes, supporting-api.md), also one that
 * sends the viewer no event, so that a client may send it with every request.
 */
export const SocketBody = Type.Optional(Type.Object({ socket: Type.Optional(SocketId) }, { additionalProperties: false }));
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const IdParams = Type.Object({ id: Id }, { additionalProperties: false });

/**
 * rulings.md 5: page ≥ 1, 1 ≤ limit ≤ 100. A page past the last is an empty one; the bound is only
 * where a number stops being exact (its offset then still fits PostgreSQL's bigint OFFSET).
 */
export const paginationQuery = (defaultLimit = 10) => ({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: defaultLimit }),
  page: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, default: 1 }),
});

/** rulings.md 6: query booleans arrive as the strings true/false. */
export const QueryBoolean = Type.Boolean();

export const UserBrief = Type.Object({
  _id: Id,
  name: Type.String(),
  username: Type.String(),
  photo: Type.Optional(Type.String()),
});
export type UserBrief = Static<typeof UserBrief>;

export const UserWithPresence = Type.Object({
  ...UserBrief.properties,
  isOnline: Type.Optional(Type.Boolean()),
});

export const Success = Type.Object({ success: Type.Literal(true) });

export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String(),
    code: Type.String(),
    message: Type.String(),
  },
  { additionalProperties: true },
);

export const Auth = [{ bearerAuth: [] }];
