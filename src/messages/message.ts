// A message as the API shows it: the spec's lastMessage shape, built in SQL by message_json()
// (drizzle/0001_sql_functions.sql). The schema is the one source of the type and of the answers.
import { Type, type Static } from '@sinclair/typebox';
import { DateTime, Id, UserBrief } from '../shared/schemas.js';

/** Free-form: "meta can have any type of data" (chats-api.txt GET /chats/:id/files example). */
export const Meta = Type.Object({}, { additionalProperties: true });

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
