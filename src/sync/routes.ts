// GET /sync: catching up after a disconnect (README "Catching up after a disconnect").
import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import { ChatForViewer } from '../chats/view.js';
import { Message } from '../messages/message.js';
import type { Deps } from '../shared/deps.js';
import { Auth, DateTime, Id } from '../shared/schemas.js';
import * as service from './service.js';

/** A message as everywhere else, plus deletedAt once deleted (its text and files are gone then). */
const SyncMessage = Type.Object({ ...Message.properties, deletedAt: Type.Optional(DateTime) });

const SyncQuery = Type.Object({
  since: Type.String({
    format: 'date-time',
    description: 'the `now` of the previous answer (any ISO 8601 date-time with a time zone)',
    examples: ['2025-09-25T10:52:56.333Z'],
  }),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 50, description: 'changed messages per chat' }),
});

const SyncAnswer = Type.Object({
  now: DateTime,
  hasMoreChats: Type.Boolean(),
  chats: Type.Array(ChatForViewer),
  removedChats: Type.Array(Type.Object({ chat: Id, removedAt: DateTime })),
  messages: Type.Array(Type.Object({ chat: Id, messages: Type.Array(SyncMessage), hasMore: Type.Boolean() })),
  readMarkers: Type.Array(Type.Object({ chat: Id, lastReadAt: DateTime })),
});

export function registerSyncRoutes(app: App, deps: Deps) {
  app.get(
    '/sync',
    {
      schema: {
        tags: ['sync'],
        security: Auth,
        description:
          'What changed for the viewer at or after `since`: changed chats (as in GET /chats), chats the viewer ' +
          'stopped seeing, created/edited/deleted messages per chat (newest first, `limit` per chat, `hasMore` ' +
          'when there were more: reload that chat with GET /chats/:id/messages), the viewer\'s read markers. ' +
          'Pass `now` as `since` next time; when `hasMoreChats`, call again at once.',
        querystring: SyncQuery,
        response: { 200: SyncAnswer },
      },
    },
    async (request) => service.sync(deps, request.userId, request.query),
  );
}
