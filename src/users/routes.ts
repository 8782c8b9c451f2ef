import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import type { Deps } from '../shared/deps.js';
import { Auth, DateTime, HttpUrl, IdParams, SocketBody, Success, UserBrief } from '../shared/schemas.js';
import { toBrief, type UserRow } from './queries.js';
import * as service from './service.js';

const Username = Type.String({ minLength: 3, maxLength: 30, pattern: '^[A-Za-z0-9._]+$' });
const Password = Type.String({ minLength: 8, maxLength: 200 });

const Me = Type.Object({ ...UserBrief.properties, score: Type.Integer(), createdAt: DateTime });
const Profile = Type.Object({ ...UserBrief.properties, isFollowed: Type.Boolean(), isBlocked: Type.Boolean() });
const AuthAnswer = Type.Object({ user: Me, token: Type.String() });

const meOf = (user: UserRow) => ({ ...toBrief(user), score: user.score, createdAt: user.createdAt });

/** POST /auth/register and /auth/login: the only routes without a token (with /health). */
export function registerAccountRoutes(app: App, deps: Deps) {
  app.post(
    '/auth/register',
    {
      schema: {
        tags: ['accounts'],
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }),
            username: Username,
            password: Password,
            photo: Type.Optional(HttpUrl),
          },
          { additionalProperties: false },
        ),
        response: { 201: AuthAnswer },
      },
    },
    async (request, reply) => {
      const { user, token } = await service.register(deps, request.body);
      return reply.code(201).send({ user: meOf(user), token });
    },
  );

  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['accounts'],
        body: Type.Object(
          { username: Type.String({ minLength: 1, maxLength: 100 }), password: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: { 200: AuthAnswer },
      },
    },
    async (request) => {
      const { user, token } = await service.login(deps, request.body);
      return { user: meOf(user), token };
    },
  );
}

export function registerUserRoutes(app: App, deps: Deps) {
  app.get(
    '/users/me',
    { schema: { tags: ['users'], security: Auth, response: { 200: Type.Object({ user: Me }) } } },
    async (request) => ({ user: meOf(await service.me(deps, request.userId)) }),
  );

  app.get(
    '/users/:id',
    {
      schema: { tags: ['users'], security: Auth, params: IdParams, response: { 200: Type.Object({ user: Profile }) } },
    },
    async (request) => {
      const { user, isFollowed, isBlocked } = await service.profile(deps, request.userId, request.params.id);
      return { user: { ...toBrief(user), isFollowed, isBlocked } };
    },
  );

  const relation = (
    method: 'post' | 'delete',
    verb: 'follow' | 'block',
    run: (deps: Deps, viewerId: string, userId: string) => Promise<void>,
  ) =>
    app[method](
      `/users/:id/${verb}`,
      { schema: { tags: ['users'], security: Auth, params: IdParams, body: SocketBody, response: { 200: Success } } },
      async (request) => {
        await run(deps, request.userId, (request.params as { id: string }).id);
        return { success: true as const };
      },
    );
  relation('post', 'follow', service.follow);
  relation('delete', 'follow', service.unfollow);
  relation('post', 'block', service.block);
  relation('delete', 'block', service.unblock);
}
