// JWT bearer tokens: HS256 with JWT_SECRET (or a dev secret generated once into the data folder),
// and/or tokens of an identity provider verified against JWT_JWKS_URL. `sub` is the user id.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config.js';
import { isId } from '../shared/ids.js';

export interface TokenService {
  /** Null when tokens come only from an identity provider (JWKS). */
  canSign: boolean;
  sign(userId: string): Promise<string>;
  /** The user id, or null for a missing, malformed, expired or forged token, or one naming no user. */
  verify(token: string): Promise<string | null>;
}

const VERIFIED_MAX = 50_000;
const VERIFIED_TTL_MS = 5 * 60 * 1000;

export interface TokenOptions {
  /**
   * Whether the user a token names exists: a token that verifies but names nobody (a user of the
   * identity provider who has no account here) is refused like a forged one (rulings.md 3), rather
   * than reaching routes that would write rows for a user that is not there. Asked once per token;
   * users are never deleted, so the answer holds while the token is remembered.
   */
  userExists?: (userId: string) => Promise<boolean>;
}

export function createTokenService(config: Config, options: TokenOptions = {}): TokenService {
  const { jwt } = config;
  const secretText = jwt.secret ?? (jwt.jwksUrl ? null : devSecret(config.dataDir));
  const secret = secretText ? new TextEncoder().encode(secretText) : null;
  const jwks: JWTVerifyGetKey | null = jwt.jwksUrl ? createRemoteJWKSet(new URL(jwt.jwksUrl)) : null;
  const jwksClaims = {
    ...(jwt.issuer ? { issuer: jwt.issuer } : {}),
    ...(jwt.audience ? { audience: jwt.audience } : {}),
  };

  // Verified tokens are remembered until they expire (at most VERIFIED_TTL_MS): a token is
  // checked on every request and handshake, and a JWKS signature check costs far more than a map
  // look-up. A token stays exactly as valid as without the cache: until its exp.
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
      const claims = await verifiedClaims(token);
      if (!claims || (options.userExists && !(await options.userExists(claims.sub)))) return null;
      remember(token, claims.sub, claims.exp);
      return claims.sub;
    },
  };

  /** The claims of a token whose signature and times check out, or null. */
  async function verifiedClaims(token: string): Promise<{ sub: string; exp?: number } | null> {
    if (secretText && (!jwks || headerAlg(token) === 'HS256')) return verifyHs256(token, secretText, jwt);
    if (!jwks) return null;
    try {
      const { payload } = await jwtVerify(token, jwks, jwksClaims);
      return isId(payload.sub) ? { sub: payload.sub, exp: payload.exp } : null;
    } catch {
      return null;
    }
  }
}

/**
 * HS256 verification on node:crypto, synchronous: jose's WebCrypto HMAC took ~0.5 ms of the
 * service's CPU per new token on this machine (8.9% of it in bench P6, where 40 users a second
 * arrive with new tokens), this ~10 µs. Same rules as jose's jwtVerify with algorithms ['HS256']:
 * the header's alg must be HS256 and no `crit` extension is understood; the signature is compared
 * in constant time; exp (if present) must be a number later than now, nbf (if present) a number not
 * after now, iat (if present) a number; iss and aud must match when configured. Returns the claims
 * the service uses, or null.
 */
export function verifyHs256(
  token: string,
  secret: string,
  expect: { issuer?: string | null; audience?: string | null },
): { sub: string; exp: number | undefined } | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [headerPart, payloadPart, signaturePart] = parts;
  const header = jsonObject(headerPart);
  if (!header || header.alg !== 'HS256' || 'crit' in header || 'b64' in header) return null;
  const signature = Buffer.from(signaturePart, 'base64url');
  const expected = createHmac('sha256', secret).update(`${headerPart}.${payloadPart}`).digest();
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return null;
  const payload = jsonObject(payloadPart);
  if (!payload) return null;
  const now = Math.floor(Date.now() / 1000);
  const { exp, nbf, iat, iss, aud, sub } = payload;
  if (exp !== undefined && (typeof exp !== 'number' || exp <= now)) return null;
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now)) return null;
  if (iat !== undefined && typeof iat !== 'number') return null;
  if (expect.issuer && iss !== expect.issuer) return null;
  if (expect.audience && !(aud === expect.audience || (Array.isArray(aud) && aud.includes(expect.audience)))) return null;
  if (!isId(sub)) return null;
  return { sub, exp: exp as number | undefined };
}

/** A base64url JSON object, or null when it is not one. */
function jsonObject(part: string): Record<string, unknown> | null {
  // base64url only: Buffer.from would skip other characters silently.
  if (!/^[A-Za-z0-9_-]*$/.test(part)) return null;
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
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
