// POST /events, POST /events/:id/cancel (supporting-api.md) and the event participants' approval,
// POST /chats/:id/participants/:participantId/status (chats-api.txt).
import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import { ChatDocument, ParticipantDocument } from '../chats/view.js';
import type { Deps } from '../shared/deps.js';
import { Auth, DateTime, Id, IdParams, SocketBody, SocketId } from '../shared/schemas.js';
import * as service from './service.js';
import { Event } from './view.js';

const CreateEventBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }),
    startsAt: DateTime,
    endsAt: DateTime,
    category: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    restricted: Type.Optional(Type.Boolean()),
    participants: Type.Optional(Type.Array(Id, { maxItems: 1000 })),
    socket: Type.Optional(SocketId),
  },
  { additionalProperties: false },
);

/** rulings.md 7: the requesting socket, excluded from the events the request causes. */
/** rulings.md 24: participantId is the participant's _id, or its user id. */
const ParticipantParams = Type.Object({ id: Id, participantId: Id }, { additionalProperties: false });

export function registerEventRoutes(app: App, deps: Deps) {
  app.post(
    '/events',
    {
      schema: {
        tags: ['events'],
        security: Auth,
        body: CreateEventBody,
        response: { 201: Type.Object({ event: Event, chat: ChatDocument }) },
      },
    },
    async (request, reply) => reply.code(201).send(await service.createEvent(deps, request.userId, request.body)),
  );

  app.post(
    '/events/:id/cancel',
    {
      schema: {
        tags: ['events'],
        security: Auth,
        params: IdParams,
        body: SocketBody,
        response: { 200: Type.Object({ event: Event }) },
      },
    },
    async (request) => ({
      event: await service.cancelEvent(deps, request.userId, request.params.id, request.body?.socket),
    }),
  );

  app.post(
    '/chats/:id/participants/:participantId/status',
    {
      schema: {
        tags: ['events', 'participants'],
        security: Auth,
        params: ParticipantParams,
        body: Type.Object(
          {
            status: Type.Union([Type.Literal('accepted'), Type.Literal('rejected')]),
            socket: Type.Optional(SocketId),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ participant: ParticipantDocument }) },
      },
    },
    async (request) => {
      const { id, participantId } = request.params;
      const { status, socket } = request.body;
      return { participant: await service.setParticipantStatus(deps, request.userId, id, participantId, status, socket) };
    },
  );
}
