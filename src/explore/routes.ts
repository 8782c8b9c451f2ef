// GET /chats/explore/communities. Its static path wins over GET /chats/:id in Fastify's router
// (and "explore" is no 24-hex id either).
import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import { ParticipantDocument, Tag } from '../chats/view.js';
import { Reel } from '../reels/view.js';
import type { Deps } from '../shared/deps.js';
import { Auth, DateTime, Id, paginationQuery, UserBrief } from '../shared/schemas.js';
import * as service from './service.js';

/** The viewer's pending join request of the chat (rulings.md 18). */
const JoinRequest = Type.Object({
  _id: Id,
  user: Id,
  chat: Id,
  status: Type.Literal('pending'),
  createdAt: DateTime,
});

/**
 * A chat of the explore answer: the keys of the spec example (optional ones omitted when unset), and
 * `unread`, which the route's description asks for ("populate reels and unread messages count").
 */
const Community = Type.Object({
  _id: Id,
  creator: UserBrief,
  isGroup: Type.Boolean(),
  name: Type.String(),
  allowPublicPost: Type.Boolean(),
  tags: Type.Array(Tag),
  /** rulings.md 11: participants' user is the plain id here. */
  participants: Type.Array(ParticipantDocument),
  event: Type.Optional(Id),
  photo: Type.Optional(Type.String()),
  createdAt: DateTime,
  updatedAt: DateTime,
  restricted: Type.Boolean(),
  reelsCount: Type.Integer(),
  request: Type.Optional(JoinRequest),
  reels: Type.Array(Reel),
  /** rulings.md 12, the viewer's; 0 in a chat they have not joined. */
  unread: Type.Integer(),
  isJoined: Type.Boolean(),
  areYouAdmin: Type.Boolean(),
  participantsCount: Type.Integer(),
});

export function registerExploreRoutes(app: App, deps: Deps) {
  app.get(
    '/chats/explore/communities',
    {
      schema: {
        tags: ['explore'],
        security: Auth,
        querystring: Type.Object({
          ...paginationQuery(10),
          search: Type.String({ maxLength: 100 }),
          category: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
          reelsLimit: Type.Integer({ minimum: 0, maximum: 20, default: 5 }),
        }),
        response: { 200: Type.Object({ chats: Type.Array(Community), count: Type.Integer() }) },
      },
    },
    async (request) => service.exploreCommunities(deps, request.userId, request.query),
  );
}
