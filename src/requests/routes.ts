// Join requests of restricted group chats (supporting-api.md "Events, join requests, reels, score").
import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import type { Deps } from '../shared/deps.js';
import { Auth, DateTime, Id, IdParams, SocketBody, SocketId } from '../shared/schemas.js';
import * as service from './service.js';

const tags = ['requests'];

const JoinRequest = Type.Object({
  _id: Id,
  user: Id,
  chat: Id,
  status: Type.Union([Type.Literal('pending'), Type.Literal('accepted'), Type.Literal('rejected')]),
  createdAt: DateTime,
});
const RequestAnswer = Type.Object({ request: JoinRequest });
/** rulings.md 7: the requesting socket, excluded from the events the request causes. */
const RequestParams = Type.Object({ id: Id, requestId: Id }, { additionalProperties: false });

export function registerRequestRoutes(app: App, deps: Deps) {
  app.post(
    '/chats/:id/requests',
    { schema: { tags, security: Auth, params: IdParams, body: SocketBody, response: { 201: RequestAnswer } } },
    async (request, reply) => {
      const created = await service.createRequest(deps, request.userId, request.params.id, request.body?.socket);
      return reply.code(201).send({ request: created });
    },
  );

  app.post(
    '/chats/:id/requests/:requestId/status',
    {
      schema: {
        tags,
        security: Auth,
        params: RequestParams,
        body: Type.Object(
          {
            status: Type.Union([Type.Literal('accepted'), Type.Literal('rejected')]),
            socket: Type.Optional(SocketId),
          },
          { additionalProperties: false },
        ),
        response: { 200: RequestAnswer },
      },
    },
    async (request) => {
      const { id, requestId } = request.params;
      const { status, socket } = request.body;
      return { request: await service.decideRequest(deps, request.userId, id, requestId, status, socket) };
    },
  );
}
