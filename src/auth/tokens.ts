// JWT bearer tokens: HS256 with JWT_SECRET (or a dev secret generated once into the data folder),
// and/or tokens of an identity provider verified against JWT_JWKS_URL. `sub` is the user id.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config.js';
import { isId } from '../shared/ids.js';

export interface TokenService {
  /** Null when tokens come only from an identity provider (JWKS). */
  canSign: boolean;
  sign(userId: string): Promise<string>;
  /** The user id, or null for a missing, malformed, expired or forged token. */
  verify(token: string): Promise<string | null>;
}

const VERIFIED_MAX = 50_000;
const VERIFIED_TTL_MS = 5 * 60 * 1000;

export function createTokenService(config: Config): TokenService {
  const { jwt } = config;
  const secretText = jwt.secret ?? (jwt.jwksUrl ? null : devSecret(config.dataDir));
  const secret = secretText ? new TextEncoder().encode(secretText) : null;
  const jwks: JWTVerifyGetKey | null = jwt.jwksUrl ? createRemoteJWKSet(new URL(jwt.jwksUrl)) : null;
  const claims = {
    ...(jwt.issuer ? { issuer: jwt.issuer } : {}),
    ...(jwt.audience ? { audience: jwt.audience } : {}),
  };

  // Verified tokens are remembered until they expire (at most VERIFIED_TTL_MS): a token is
  // checked on every request and handshake, and jose's WebCrypto HMAC costs ~150 µs each
  // (bench/RESULTS.md P6). A token stays exactly as valid as without the cache: until its exp.
  const verified = new Map<string, { userId: string; expiresAt: number }>();
  const remember = (token: string, userId: string, exp: number | undefined) => {
    const expiresAt = Math.min(exp ? exp * 1000 : Infinity, Date.now() + VERIFIED_TTL_MS);
    if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!);
    verified.set(token, { userId, expiresAt });
  };

  return {
    canSign: secret !== null,
    async sign(userId) {
      if (!secret) throw new Error('no JWT_SECRET: tokens come from the identity provider');
      let builder = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuedAt();
      if (jwt.issuer) builder = builder.setIssuer(jwt.issuer);
      if (jwt.audience) builder = builder.setAudience(jwt.audience);
      return builder.setExpirationTime(jwt.expiresIn).sign(secret);
    },
    async verify(token) {
      if (!token || token.length > 8192) return null;
      const cached = verified.get(token);
      if (cached) {
        if (cached.expiresAt > Date.now()) return cached.userId;
        verified.delete(token);
      }
      try {
        let payload;
        if (secret && (!jwks || headerAlg(token) === 'HS256')) {
          ({ payload } = await jwtVerify(token, secret, { ...claims, algorithms: ['HS256'] }));
        } else if (jwks) {
          ({ payload } = await jwtVerify(token, jwks, claims));
        } else {
          return null;
        }
        if (!isId(payload.sub)) return null;
        remember(token, payload.sub, payload.exp);
        return payload.sub;
      } catch {
        return null;
      }
    },
  };
}

function headerAlg(token: string): string | undefined {
  try {
    return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')).alg;
  } catch {
    return undefined;
  }
}

/** The embedded default: a secret generated on first start and found again on the next. */
function devSecret(dataDir: string): string {
  const file = path.join(dataDir, 'jwt-secret');
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length >= 32) return existing;
  } catch {
    // first start
  }
  mkdirSync(dataDir, { recursive: true });
  const created = randomBytes(48).toString('base64url');
  writeFileSync(file, created + '\n', { mode: 0o600 });
  return created;
}
