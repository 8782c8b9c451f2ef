// POST /reels and the reactions (supporting-api.md "Events, join requests, reels, score").
import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import type { Deps } from '../shared/deps.js';
import { Auth, HttpUrl, Id, IdParams, SocketBody, SocketId, Success } from '../shared/schemas.js';
import * as service from './service.js';
import { REACTIONS, Reel } from './view.js';

const tags = ['reels'];

const CreateReelBody = Type.Object(
  {
    chat: Type.Optional(Id),
    description: Type.String({ maxLength: 2200 }),
    tag: Type.String({ minLength: 1, maxLength: 50, pattern: '\\S' }),
    /** A URL from an upload (POST /chats/:id/uploads) or elsewhere: http(s) only. */
    video: HttpUrl,
    hashtags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 30 })),
    isAnonymous: Type.Optional(Type.Boolean()),
    socket: Type.Optional(SocketId),
  },
  { additionalProperties: false },
);

export function registerReelRoutes(app: App, deps: Deps) {
  app.post(
    '/reels',
    { schema: { tags, security: Auth, body: CreateReelBody, response: { 201: Type.Object({ reel: Reel }) } } },
    async (request, reply) => {
      const reel = await service.createReel(deps, request.userId, request.body);
      return reply.code(201).send({ reel });
    },
  );

  for (const kind of REACTIONS) {
    app.post(
      `/reels/:id/${kind}`,
      { schema: { tags, security: Auth, params: IdParams, body: SocketBody, response: { 200: Success } } },
      async (request) => {
        await service.react(deps, request.userId, request.params.id, kind);
        return { success: true as const };
      },
    );
    app.delete(
      `/reels/:id/${kind}`,
      { schema: { tags, security: Auth, params: IdParams, body: SocketBody, response: { 200: Success } } },
      async (request) => {
        await service.unreact(deps, request.userId, request.params.id, kind);
        return { success: true as const };
      },
    );
  }
}
