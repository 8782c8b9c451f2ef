// POST /chats/:id/uploads/presign {fileName, contentType, size?} → {url, fileUrl}: the client PUTs
// the file to `url` with the same Content-Type (and Content-Length = size when given: both are
// signed), then sends `fileUrl` in a message. S3 storage only (see service.ts).
import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import type { Deps } from '../shared/deps.js';
import { Auth, IdParams, SocketId } from '../shared/schemas.js';
import * as service from './service.js';

/** type/subtype, without parameters (RFC 6838 names). */
const ContentType = Type.String({
  minLength: 3,
  maxLength: 255,
  pattern: '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$',
});

export function registerPresignRoutes(app: App, deps: Deps) {
  app.post(
    '/chats/:id/uploads/presign',
    {
      schema: {
        tags: ['uploads'],
        security: Auth,
        params: IdParams,
        body: Type.Object(
          {
            fileName: Type.String({ minLength: 1, maxLength: 255, pattern: '\\S' }),
            contentType: ContentType,
            size: Type.Optional(Type.Integer({ minimum: 1 })),
            socket: Type.Optional(SocketId),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            /** Where to PUT the file; valid for S3_PRESIGN_EXPIRES_SECONDS. */
            url: Type.String(),
            /** The file's public URL once uploaded, as POST /chats/:id/uploads answers it. */
            fileUrl: Type.String(),
          }),
        },
      },
    },
    async (request) => {
      const { url, fileUrl } = await service.presignUpload(deps, request.userId, request.params.id, request.body);
      return { url, fileUrl };
    },
  );
}
