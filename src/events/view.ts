// How an event is shown (supporting-api.md "Events, join requests, reels, score").
import { Type, type Static } from '@sinclair/typebox';
import { DateTime, Id } from '../shared/schemas.js';

export const Event = Type.Object({
  _id: Id,
  chat: Id,
  name: Type.String(),
  startsAt: DateTime,
  endsAt: DateTime,
  /** `ended` once endsAt has passed (not stored: src/events/queries.ts). */
  status: Type.Union([Type.Literal('active'), Type.Literal('cancelled'), Type.Literal('ended')]),
  creator: Id,
  createdAt: DateTime,
  updatedAt: DateTime,
});
export type Event = Static<typeof Event>;
