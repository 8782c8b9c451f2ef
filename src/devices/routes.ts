import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import type { Deps } from '../shared/deps.js';
import { Auth, SocketBody, SocketId, Success } from '../shared/schemas.js';
import * as service from './service.js';

// FCM registration tokens are ~150-250 characters; the bound keeps a body or URL from carrying more.
const Token = Type.String({ minLength: 1, maxLength: 4096 });

/** POST /devices and DELETE /devices/:token (supporting-api.md "Accounts"). */
export function registerDeviceRoutes(app: App, deps: Deps) {
  app.post(
    '/devices',
    {
      schema: {
        tags: ['devices'],
        security: Auth,
        body: Type.Object(
          {
            token: Token,
            platform: Type.Union([Type.Literal('android'), Type.Literal('ios'), Type.Literal('web')]),
            socket: Type.Optional(SocketId),
          },
          { additionalProperties: false },
        ),
        response: { 200: Success },
      },
    },
    async (request) => {
      await service.registerDevice(deps, request.userId, request.body);
      return { success: true as const };
    },
  );

  app.delete(
    '/devices/:token',
    {
      schema: {
        tags: ['devices'],
        security: Auth,
        params: Type.Object({ token: Token }, { additionalProperties: false }),
        body: SocketBody,
        response: { 200: Success },
      },
    },
    async (request) => {
      await service.removeDevice(deps, request.userId, request.params.token);
      return { success: true as const };
    },
  );
}
