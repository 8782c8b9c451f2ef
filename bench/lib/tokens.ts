// Bearer tokens for seeded users: HS256 JWTs signed with the service's JWT_SECRET, sub = user id
// (supporting-api.md "Accounts"), exactly what src/auth/tokens.ts verifies.
import { SignJWT } from 'jose';
import { JWT_SECRET } from './procs.js';

const secret = new TextEncoder().encode(JWT_SECRET);

export function signToken(userId: string): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuedAt().setExpirationTime('1d').sign(secret);
}

export async function signTokens(userIds: string[]): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (const id of userIds) tokens.set(id, await signToken(id));
  return tokens;
}
