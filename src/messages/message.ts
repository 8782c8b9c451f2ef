// The shapes of messages and files: a message file as clients send it, a message as the API shows
// it (the spec's lastMessage, built in SQL by message_json() in drizzle/0001_sql_functions.sql), a
// GET /chats/:id/files item and an upload's answer. Each schema is the one source of its type.
import { Type, type Static } from '@sinclair/typebox';
import { DateTime, HttpUrl, Id, UserBrief } from '../shared/schemas.js';
import { MEDIA_TYPES } from './media.js';

/** Free-form: "meta can have any type of data" (chats-api.txt GET /chats/:id/files example). */
export const Meta = Type.Object({}, { additionalProperties: true });

/** A file as a client sends it in POST /chats/:id/messages. */
export const FileInput = Type.Object(
  {
    url: HttpUrl,
    cover: Type.Optional(HttpUrl),
    meta: Type.Optional(Meta),
    /** rulings.md 14: one tag per file, `others` when none is given. */
    tag: Type.Optional(Type.String({ minLength: 1, maxLength: 50, pattern: '\\S' })),
  },
  { additionalProperties: false },
);
export type FileInput = Static<typeof FileInput>;

export const MessageFile = Type.Object({
  url: Type.String(),
  cover: Type.Optional(Type.String()),
  meta: Type.Optional(Meta),
  /** rulings.md 14: one tag per file. */
  tag: Type.String(),
  _id: Id,
});

export const Message = Type.Object({
  _id: Id,
  user: UserBrief,
  chat: Id,
  text: Type.Optional(Type.String()),
  files: Type.Array(MessageFile),
  at: DateTime,
  editedAt: Type.Optional(DateTime),
});
export type Message = Static<typeof Message>;

/** A GET /chats/:id/files item, exactly as the spec example (file._id equals the outer _id). */
export const FileItem = Type.Object({
  _id: Id,
  user: Id,
  chat: Id,
  at: DateTime,
  message: Id,
  file: Type.Object({ url: Type.String(), cover: Type.Optional(Type.String()), meta: Type.Optional(Meta), _id: Id }),
});
export type FileItem = Static<typeof FileItem>;

/** POST /chats/:id/uploads: a URL to put in a message, and the meta to send with it. */
export const Uploaded = Type.Object({
  url: Type.String(),
  meta: Type.Object({
    mediaType: Type.Union(MEDIA_TYPES.filter((t) => t !== 'other').map((t) => Type.Literal(t))),
    fileName: Type.String(),
    fileSize: Type.Integer(),
  }),
});
export type Uploaded = Static<typeof Uploaded>;
