// The chat routes of chats-api.txt (GET /chats, GET/PUT/DELETE /chats/:id, POST /chats,
// POST /chats/:id/read). Participants, files and explore live in their own folders.
import { Type, type Static } from '@sinclair/typebox';
import type { MultipartFile, MultipartValue } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { App } from '../app.js';
import type { Deps } from '../shared/deps.js';
import { AppError } from '../shared/errors.js';
import { viewerSocketRoom } from '../realtime/server.js';
import { Auth, Id, IdParams, paginationQuery, QueryBoolean, SOCKET_ID_PATTERN, SocketBody, SocketId, Success, unstorableText } from '../shared/schemas.js';
import * as service from './service.js';
import { ChatDocument, ChatForViewer } from './view.js';

const tags = ['chats'];
const ChatAnswer = Type.Object({ chat: ChatDocument });
const ChatListAnswer = Type.Object({ chats: Type.Array(ChatForViewer), count: Type.Integer() });
/** Requests that may carry only the requesting socket (rulings.md 7); the body itself is optional. */

const CreateChatBody = Type.Object(
  {
    user: Type.Optional(Id),
    meetMe: Type.Optional(Id),
    isGroup: Type.Optional(Type.Boolean()),
    category: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' })),
    participants: Type.Optional(Type.Array(Id, { minItems: 1, maxItems: 1000 })),
    restricted: Type.Optional(Type.Boolean()),
    allowPublicPost: Type.Optional(Type.Boolean()),
    socket: Type.Optional(SocketId),
  },
  { additionalProperties: false },
);

/**
 * The PUT /chats/:id form as the OpenAPI document shows it (src/app.ts documentedSchema). The form
 * is read by readUpdateForm, which takes its field names from here, not validated by this schema.
 */
export const UpdateChatMultipart = Type.Object({
  photo: Type.Optional(Type.String({ format: 'binary', description: 'an image, at most PHOTO_MAX_BYTES' })),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  category: Type.Optional(Type.String()),
  restricted: Type.Optional(Type.String({ enum: ['true', 'false'] })),
  allowPublicPost: Type.Optional(Type.String({ enum: ['true', 'false'] })),
  socket: Type.Optional(SocketId),
});
const UPDATE_FIELDS = new Set(Object.keys(UpdateChatMultipart.properties).filter((field) => field !== 'photo'));

export function registerChatRoutes(app: App, deps: Deps) {
  app.get(
    '/chats',
    {
      schema: {
        tags,
        security: Auth,
        querystring: Type.Object({
          ...paginationQuery(10),
          search: Type.Optional(Type.String({ maxLength: 100 })),
          group: Type.Optional(QueryBoolean),
          meetMeOnly: Type.Optional(QueryBoolean),
        }),
        response: { 200: ChatListAnswer },
      },
    },
    async (request, reply) => {
      // The answer is JSON text (src/chats/list-cache.ts) rendered by this route's response schema
      // on a miss. Fastify sends a string with a JSON content type as it is, without serializing
      // it again; the cast only satisfies the type provider, which expects the schema's object.
      const json = await service.listChatsJson(deps, request.userId, request.query, (answer) => reply.serialize(answer) as string);
      return reply.type('application/json; charset=utf-8').send(json as unknown as Static<typeof ChatListAnswer>);
    },
  );

  app.get(
    '/chats/:id',
    { schema: { tags, security: Auth, params: IdParams, response: { 200: Type.Object({ chat: ChatForViewer }) } } },
    async (request) => ({ chat: await service.getChat(deps, request.userId, request.params.id) }),
  );

  app.post(
    '/chats',
    { schema: { tags, security: Auth, body: CreateChatBody, response: { 200: ChatAnswer, 201: ChatAnswer } } },
    async (request, reply) => {
      const { chat, created } = await service.createChat(deps, request.userId, request.body);
      // rulings.md 20: an existing one-to-one chat answers 200, a new chat 201.
      return reply.code(created ? 201 : 200).send({ chat });
    },
  );

  app.put(
    '/chats/:id',
    {
      schema: {
        tags,
        security: Auth,
        params: IdParams,
        consumes: ['multipart/form-data'],
        response: { 200: ChatAnswer },
      },
    },
    async (request) => {
      const form = await readUpdateForm(request, deps.config.limits.photoMaxBytes);
      return { chat: await service.updateChat(deps, request.userId, request.params.id, form) };
    },
  );

  app.delete(
    '/chats/:id',
    { schema: { tags, security: Auth, params: IdParams, body: SocketBody, response: { 200: Success } } },
    async (request) => {
      await service.deleteChat(deps, request.userId, request.params.id, request.body?.socket);
      return { success: true as const };
    },
  );

  app.post(
    '/chats/:id/read',
    { schema: { tags, security: Auth, params: IdParams, body: SocketBody, response: { 200: Success } } },
    async (request) => {
      await service.markRead(deps, request.userId, request.params.id, request.body?.socket);
      return { success: true as const };
    },
  );
}

/**
 * The PUT /chats/:id form (chats-api.txt: form data). Text fields are collected as sent and
 * validated by the service; `photo` is read into memory under a per-request size limit (10 MiB by
 * default, rulings.md 23). @fastify/multipart truncates an oversized file silently (STACK.md), so
 * `truncated` is checked and answered 413, and nothing of it is stored.
 */
async function readUpdateForm(request: FastifyRequest, photoMaxBytes: number): Promise<service.UpdateChatForm> {
  if (!request.isMultipart()) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'PUT /chats/:id takes multipart/form-data');
  }
  const form: service.UpdateChatForm = { fields: {} };
  // throwFileSizeLimit is read by @fastify/multipart at run time but missing from its parts() type.
  // Two files let a second photo be refused by name (400) rather than by the parser's count (413).
  const options = { limits: { fileSize: photoMaxBytes, files: 2 }, throwFileSizeLimit: false };
  const parts = request.parts(options as Parameters<FastifyRequest['parts']>[0]);
  for await (const part of parts as AsyncIterableIterator<MultipartFile | MultipartValue>) {
    if (part.type === 'file') {
      if (part.fieldname !== 'photo') {
        part.file.resume();
        throw new AppError('VALIDATION_FAILED', `${part.fieldname} is not allowed`, { field: part.fieldname });
      }
      if (form.photo) {
        part.file.resume();
        throw new AppError('VALIDATION_FAILED', 'photo must be sent once', { field: 'photo' });
      }
      const data = await part.toBuffer();
      if (part.file.truncated) {
        throw new AppError('PAYLOAD_TOO_LARGE', `photo must be at most ${photoMaxBytes} bytes`, { field: 'photo' });
      }
      form.photo = { data, fileName: part.filename || 'photo' };
    } else {
      if (!UPDATE_FIELDS.has(part.fieldname)) {
        throw new AppError('VALIDATION_FAILED', `${part.fieldname} is not allowed`, { field: part.fieldname });
      }
      if (part.valueTruncated) {
        throw new AppError('VALIDATION_FAILED', `${part.fieldname} is too long`, { field: part.fieldname });
      }
      const value = String(part.value);
      // As for JSON bodies (src/app.ts refusingUnstorable).
      const unstorable = unstorableText(value);
      if (unstorable) throw new AppError('VALIDATION_FAILED', `${part.fieldname} ${unstorable}`, { field: part.fieldname });
      form.fields[part.fieldname as keyof service.UpdateChatForm['fields']] = value;
    }
  }
  // rulings.md 7, as the JSON bodies' `socket` (src/app.ts ownSocketOnly): checked, then the
  // viewer's own socket room that the events except.
  const { socket } = form.fields;
  if (socket !== undefined) {
    if (!new RegExp(SOCKET_ID_PATTERN).test(socket)) {
      throw new AppError('VALIDATION_FAILED', `socket must match /${SOCKET_ID_PATTERN}/`, { field: 'socket' });
    }
    form.fields.socket = viewerSocketRoom(request.userId, socket);
  }
  return form;
}
