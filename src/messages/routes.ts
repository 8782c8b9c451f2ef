// Messages, uploads (supporting-api.md "Messages and files") and GET /chats/:id/files (chats-api.txt,
// rulings.md 19).
import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import type { Deps } from '../shared/deps.js';
import { Auth, Id, IdParams, paginationQuery, SocketBody, SocketId, Success } from '../shared/schemas.js';
import { MEDIA_TYPES } from './media.js';
import { FileInput, FileItem, Message, Uploaded } from './message.js';
import * as service from './service.js';

const tags = ['messages'];

const MessageAnswer = Type.Object({ message: Message });

const MessageParams = Type.Object({ id: Id, messageId: Id }, { additionalProperties: false });

/** The upload form as the OpenAPI document shows it (src/app.ts documentedSchema); the handler reads it. */
export const UploadMultipart = Type.Object({ file: Type.String({ format: 'binary', description: 'one file, at most UPLOAD_MAX_BYTES' }) });

export function registerMessageRoutes(app: App, deps: Deps) {
  app.post(
    '/chats/:id/messages',
    {
      schema: {
        tags,
        security: Auth,
        params: IdParams,
        body: Type.Object(
          {
            text: Type.Optional(Type.String({ maxLength: 4000 })),
            files: Type.Optional(Type.Array(FileInput, { maxItems: 10 })),
            socket: Type.Optional(SocketId),
          },
          { additionalProperties: false },
        ),
        response: { 201: MessageAnswer },
      },
    },
    async (request, reply) => {
      const message = await service.postMessage(deps, request.userId, request.params.id, request.body);
      return reply.code(201).send({ message });
    },
  );

  app.get(
    '/chats/:id/messages',
    {
      schema: {
        tags,
        security: Auth,
        params: IdParams,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 100, default: 30 }),
          before: Type.Optional(Id),
        }),
        response: { 200: Type.Object({ messages: Type.Array(Message) }) },
      },
    },
    async (request) => ({
      messages: await service.listMessages(deps, request.userId, request.params.id, request.query),
    }),
  );

  app.put(
    '/chats/:id/messages/:messageId',
    {
      schema: {
        tags,
        security: Auth,
        params: MessageParams,
        body: Type.Object(
          { text: Type.String({ maxLength: 4000 }), socket: Type.Optional(SocketId) },
          { additionalProperties: false },
        ),
        response: { 200: MessageAnswer },
      },
    },
    async (request) => ({
      message: await service.editMessage(deps, request.userId, request.params.id, request.params.messageId, request.body),
    }),
  );

  app.delete(
    '/chats/:id/messages/:messageId',
    {
      schema: {
        tags,
        security: Auth,
        params: MessageParams,
        body: SocketBody,
        response: { 200: Success },
      },
    },
    async (request) => {
      await service.deleteMessage(deps, request.userId, request.params.id, request.params.messageId, request.body ?? {});
      return { success: true as const };
    },
  );

  app.get(
    '/chats/:id/files',
    {
      schema: {
        tags,
        security: Auth,
        params: IdParams,
        querystring: Type.Object({
          ...paginationQuery(10),
          // rulings.md 19: type defaults to video, tag to others.
          type: Type.Union(MEDIA_TYPES.map((t) => Type.Literal(t)), { default: 'video' }),
          tag: Type.String({ minLength: 1, maxLength: 50, default: 'others' }),
        }),
        response: { 200: Type.Object({ files: Type.Array(FileItem), count: Type.Integer() }) },
      },
    },
    async (request) => service.listFiles(deps, request.userId, request.params.id, request.query),
  );

  app.post(
    '/chats/:id/uploads',
    {
      schema: {
        tags,
        security: Auth,
        params: IdParams,
        consumes: ['multipart/form-data'],
        response: { 201: Type.Object({ file: Uploaded }) },
      },
    },
    async (request, reply) => {
      const file = await service.upload(deps, request.userId, request.params.id, async () => {
        const part = await request.file();
        return part ? { fieldName: part.fieldname, fileName: part.filename, stream: part.file } : undefined;
      });
      return reply.code(201).send({ file });
    },
  );
}
