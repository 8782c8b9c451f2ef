import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import { ParticipantDocument } from '../chats/view.js';
import type { Deps } from '../shared/deps.js';
import { Auth, Id, SocketBody, SocketId, Success } from '../shared/schemas.js';
import * as service from './service.js';

const ChatParams = Type.Object({ id: Id }, { additionalProperties: false });
/** rulings.md 24: participantId is the participant's _id, or its user id. */
const ParticipantParams = Type.Object({ id: Id, participantId: Id }, { additionalProperties: false });
/** rulings.md 7: the requesting socket, excluded from the events the request causes. */
const ParticipantAnswer = Type.Object({ participant: ParticipantDocument });

export function registerParticipantRoutes(app: App, deps: Deps) {
  app.post(
    '/chats/:id/participants',
    {
      schema: {
        tags: ['participants'],
        security: Auth,
        params: ChatParams,
        body: SocketBody,
        // The spec shows no status: 201 Created, as a participant is created.
        response: { 201: ParticipantAnswer },
      },
    },
    async (request, reply) => {
      const participant = await service.join(deps, request.userId, request.params.id, request.body?.socket);
      return reply.code(201).send({ participant });
    },
  );

  app.post(
    '/chats/:id/participants/multiple',
    {
      schema: {
        tags: ['participants'],
        security: Auth,
        params: ChatParams,
        body: Type.Object(
          {
            participants: Type.Array(Id, { minItems: 1, maxItems: 1000 }),
            socket: Type.Optional(SocketId),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ participants: Type.Array(ParticipantDocument) }) },
      },
    },
    async (request) => {
      const { participants, socket } = request.body;
      return { participants: await service.addMany(deps, request.userId, request.params.id, participants, socket) };
    },
  );

  app.delete(
    '/chats/:id/participants/:participantId',
    {
      schema: {
        tags: ['participants'],
        security: Auth,
        params: ParticipantParams,
        body: SocketBody,
        response: { 200: Success },
      },
    },
    async (request) => {
      const { id, participantId } = request.params;
      await service.remove(deps, request.userId, id, participantId, request.body?.socket);
      return { success: true as const };
    },
  );

  for (const [method, isAdmin] of [['post', true], ['delete', false]] as const) {
    app[method](
      '/chats/:id/participants/:participantId/admin',
      {
        schema: {
          tags: ['participants'],
          security: Auth,
          params: ParticipantParams,
          body: SocketBody,
          response: { 200: ParticipantAnswer },
        },
      },
      async (request) => {
        const { id, participantId } = request.params;
        const socket = request.body?.socket;
        return { participant: await service.setAdmin(deps, request.userId, id, participantId, isAdmin, socket) };
      },
    );
  }
}
