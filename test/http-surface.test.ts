// What a web client meets before any route: CORS preflights for every method the API uses, the
// headers it may read, and OPTIONS requests that are not preflights.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from './helpers/app.js';

const ORIGIN = 'https://app.example.com';
let t: TestApp;
beforeAll(async () => {
  t = await startApp({ CORS_ORIGINS: ORIGIN });
});
afterAll(() => t?.close());

describe('CORS', () => {
  it.each(['PUT', 'DELETE', 'POST', 'GET'])('a preflight for %s with authorization and content-type is allowed', async (method) => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/chats/68d134f972f149b17a222c03',
      headers: { origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(String(res.headers['access-control-allow-methods']).split(/,\s*/)).toContain(method);
    expect(String(res.headers['access-control-allow-headers'])).toMatch(/authorization/i);
    expect(res.headers['access-control-max-age']).toBe('600');
  });

  it('exposes Retry-After and the rate limit headers to the page; another origin gets no CORS headers', async () => {
    const res = await t.app.inject({ url: '/chats', headers: { origin: ORIGIN } });
    expect(res.statusCode).toBe(401);
    expect(String(res.headers['access-control-expose-headers'])).toMatch(/Retry-After/);
    const other = await t.app.inject({ url: '/chats', headers: { origin: 'https://evil.example.com' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('an OPTIONS request that is not a preflight is not a text/plain 400', async () => {
    const res = await t.app.inject({ method: 'OPTIONS', url: '/chats' });
    expect(res.statusCode).toBeLessThan(300);
  });
});

describe('the OpenAPI document (/docs/json)', () => {
  it('shows every route its error answer, and the multipart forms of PUT /chats/:id and uploads', async () => {
    const res = await t.app.inject({ url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    const operations = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ route: `${method} ${path}`, op })),
    );
    expect(operations.length).toBeGreaterThan(40);
    for (const { route, op } of operations) {
      const error = op.responses?.default?.content?.['application/json']?.schema;
      expect(error?.properties?.code, route).toBeDefined();
    }
    const put = doc.paths['/chats/{id}'].put.requestBody.content['multipart/form-data'].schema;
    expect(Object.keys(put.properties).sort()).toEqual(['allowPublicPost', 'category', 'name', 'photo', 'restricted', 'socket']);
    const upload = doc.paths['/chats/{id}/uploads'].post.requestBody.content['multipart/form-data'].schema;
    expect(upload.properties.file).toMatchObject({ type: 'string', format: 'binary' });
    expect(upload.required).toEqual(['file']);
  });
});

describe('the `socket` field on every write (rulings.md 7, which supporting-api.md makes hold for all routes)', () => {
  it('every POST, PUT and DELETE with a token takes `socket` in its JSON body (a client may send it with each request)', async () => {
    const doc = (await t.app.inject({ url: '/docs/json' })).json();
    const missing: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(methods)) {
        if (!['post', 'put', 'delete'].includes(method) || path.startsWith('/auth/')) continue;
        const content = op.requestBody?.content ?? {};
        // The upload is a file alone; PUT /chats/:id's form has its own `socket` (checked above).
        if (content['multipart/form-data'] && !content['application/json']) continue;
        if (!content['application/json']?.schema?.properties?.socket) missing.push(`${method} ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
