// GET /users/me/score (supporting-api.md "Events, join requests, reels, score").
import { Type } from '@sinclair/typebox';
import type { App } from '../app.js';
import type { Deps } from '../shared/deps.js';
import { Auth, DateTime, paginationQuery } from '../shared/schemas.js';
import * as service from './service.js';

const ScoreAnswer = Type.Object({
  score: Type.Integer(),
  actions: Type.Array(Type.Object({ action: Type.String(), points: Type.Integer(), at: DateTime })),
});

export function registerScoreRoutes(app: App, deps: Deps) {
  app.get(
    '/users/me/score',
    {
      schema: {
        tags: ['score'],
        security: Auth,
        // Not in the spec: a user's actions grow without end, so they come in pages (newest first;
        // the first page of 100 is what a client gets without asking).
        querystring: Type.Object(paginationQuery(100)),
        response: { 200: ScoreAnswer },
      },
    },
    async (request) => service.myScore(deps, request.userId, request.query),
  );
}
