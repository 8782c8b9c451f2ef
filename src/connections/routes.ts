import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import type { Deps } from '../shared/deps.js';
import { Auth, DateTime, Id, IdParams, SocketId } from '../shared/schemas.js';
import * as service from './service.js';

const Connection = Type.Object({
  _id: Id,
  requester: Id,
  user: Id,
  status: Type.Union([Type.Literal('pending'), Type.Literal('accepted'), Type.Literal('rejected')]),
  createdAt: DateTime,
});
const ConnectionAnswer = Type.Object({ connection: Connection });

/** supporting-api.md "Meet-me connections". */
export function registerConnectionRoutes(app: App, deps: Deps) {
  app.post(
    '/connections',
    {
      schema: {
        tags: ['connections'],
        security: Auth,
        body: Type.Object({ user: Id, socket: Type.Optional(SocketId) }, { additionalProperties: false }),
        response: { 201: ConnectionAnswer },
      },
    },
    async (request, reply) => {
      const connection = await service.requestConnection(deps, request.userId, request.body);
      return reply.code(201).send({ connection });
    },
  );

  app.post(
    '/connections/:id/status',
    {
      schema: {
        tags: ['connections'],
        security: Auth,
        params: IdParams,
        body: Type.Object(
          { status: Type.Union([Type.Literal('accepted'), Type.Literal('rejected')]), socket: Type.Optional(SocketId) },
          { additionalProperties: false },
        ),
        response: { 200: ConnectionAnswer },
      },
    },
    async (request) => ({
      connection: await service.answerConnection(deps, request.userId, request.params.id, request.body.status),
    }),
  );
}
