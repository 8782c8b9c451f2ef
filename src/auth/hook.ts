import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../shared/errors.js';
import type { TokenService } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The viewer: the `sub` of a verified bearer token (rulings.md 3). */
    userId: string;
  }
}

export function authenticate(tokens: TokenService) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match) throw new AppError('UNAUTHORIZED', 'Missing or malformed bearer token');
    const userId = await tokens.verify(match[1]);
    if (!userId) throw new AppError('UNAUTHORIZED', 'Invalid or expired token');
    request.userId = userId;
  };
}
