// The HS256 check on node:crypto (src/auth/tokens.ts verifyHs256) accepts what jose signs and
// rejects what jose's jwtVerify rejects: a wrong key, another alg, a changed payload, exp/nbf
// outside now, claims of the wrong type, iss/aud that do not match, a sub that is not an id.
import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createTokenService, verifyHs256 } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import { newId } from '../src/shared/ids.js';

const SECRET = 'tokens-test-secret-tokens-test-secret-0123';
const key = new TextEncoder().encode(SECRET);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** A token signed by jose with these claims and header. */
function signed(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256' }, secret = key) {
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(secret);
}

/** A token HMAC-signed by hand: jose refuses to sign headers it would not accept. */
function handSigned(header: Record<string, unknown>, claims: Record<string, unknown>) {
  const input = `${b64(header)}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

describe('verifyHs256', () => {
  const sub = newId();

  it('accepts a token jose signed, with or without exp, and returns sub and exp', async () => {
    const exp = now() + 3600;
    expect(verifyHs256(await signed({ sub, exp, iat: now() }), SECRET, {})).toEqual({ sub, exp });
    expect(verifyHs256(await signed({ sub }), SECRET, {})).toEqual({ sub, exp: undefined });
    expect(verifyHs256(await signed({ sub, nbf: now() - 5 }, { alg: 'HS256', typ: 'JWT' }), SECRET, {})).toEqual({ sub, exp: undefined });
  });

  it('rejects another key, another alg, alg none, crit and b64 headers', async () => {
    const other = new TextEncoder().encode('another-secret-another-secret-another');
    expect(verifyHs256(await signed({ sub }, { alg: 'HS256' }, other), SECRET, {})).toBeNull();
    expect(verifyHs256(await signed({ sub }, { alg: 'HS512' }), SECRET, {})).toBeNull();
    expect(verifyHs256(`${b64({ alg: 'none' })}.${b64({ sub })}.`, SECRET, {})).toBeNull();
    expect(verifyHs256(handSigned({ alg: 'HS256' }, { sub }), SECRET, {})).toEqual({ sub, exp: undefined });
    expect(verifyHs256(handSigned({ alg: 'HS256', crit: ['exp'] }, { sub }), SECRET, {})).toBeNull();
    expect(verifyHs256(handSigned({ alg: 'HS256', b64: false, crit: ['b64'] }, { sub }), SECRET, {})).toBeNull();
    expect(verifyHs256(handSigned({ alg: 'HS256', b64: true }, { sub }), SECRET, {})).toBeNull();
  });

  it('rejects a changed payload or signature, and malformed tokens', async () => {
    const token = await signed({ sub });
    const [h, , s] = token.split('.');
    expect(verifyHs256(`${h}.${b64({ sub: newId() })}.${s}`, SECRET, {})).toBeNull();
    // The signature's first character changed: always other bytes. (Its last two replaced by "AA"
    // decoded to the same bytes about once in 1,024 tokens: the last character's low two bits are
    // padding.)
    const otherFirst = s[0] === 'A' ? 'B' : 'A';
    expect(verifyHs256(`${token.slice(0, token.length - s.length)}${otherFirst}${s.slice(1)}`, SECRET, {})).toBeNull();
    expect(verifyHs256(`${token}.x`, SECRET, {})).toBeNull();
    for (const bad of ['', 'a.b', 'a.b.c', `${h}.!!!.${s}`, `${h}.${Buffer.from('[1]').toString('base64url')}.${s}`]) {
      expect(verifyHs256(bad, SECRET, {}), bad).toBeNull();
    }
  });

  it('rejects exp not after now, nbf after now, and claims of the wrong type', async () => {
    expect(verifyHs256(await signed({ sub, exp: now() - 1 }), SECRET, {})).toBeNull();
    expect(verifyHs256(await signed({ sub, exp: now() }), SECRET, {})).toBeNull();
    expect(verifyHs256(await signed({ sub, nbf: now() + 60 }), SECRET, {})).toBeNull();
    expect(verifyHs256(await signed({ sub, exp: String(now() + 60) }), SECRET, {})).toBeNull();
    expect(verifyHs256(await signed({ sub, iat: 'yesterday' }), SECRET, {})).toBeNull();
    expect(verifyHs256(await signed({ sub: 'admin' }), SECRET, {})).toBeNull();
    expect(verifyHs256(await signed({}), SECRET, {})).toBeNull();
  });

  it('checks iss and aud when they are configured', async () => {
    const expect_ = { issuer: 'https://id.example.com', audience: 'chat' };
    expect(verifyHs256(await signed({ sub, iss: expect_.issuer, aud: 'chat' }), SECRET, expect_)).toEqual({ sub, exp: undefined });
    expect(verifyHs256(await signed({ sub, iss: expect_.issuer, aud: ['web', 'chat'] }), SECRET, expect_)).not.toBeNull();
    expect(verifyHs256(await signed({ sub, iss: 'https://evil.example.com', aud: 'chat' }), SECRET, expect_)).toBeNull();
    expect(verifyHs256(await signed({ sub, iss: expect_.issuer, aud: 'web' }), SECRET, expect_)).toBeNull();
    expect(verifyHs256(await signed({ sub, aud: 'chat' }), SECRET, expect_)).toBeNull();
  });
});

describe('createTokenService', () => {
  it('verifies the tokens it signs, with the configured issuer and audience, and not after exp', async () => {
    const config = loadConfig({ JWT_SECRET: SECRET, JWT_ISSUER: 'https://id.example.com', JWT_AUDIENCE: 'chat' });
    const tokens = createTokenService(config);
    const sub = newId();
    const token = await tokens.sign(sub);
    expect(await tokens.verify(token)).toBe(sub);
    expect(await tokens.verify(token)).toBe(sub); // remembered
    const expired = await new SignJWT({ sub, iss: 'https://id.example.com', aud: 'chat', exp: now() - 10 })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(key);
    expect(await tokens.verify(expired)).toBeNull();
    const otherAudience = await createTokenService(loadConfig({ JWT_SECRET: SECRET, JWT_AUDIENCE: 'admin' })).sign(sub);
    expect(await tokens.verify(otherAudience)).toBeNull();
  });
});
