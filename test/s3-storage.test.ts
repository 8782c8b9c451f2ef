// Object storage (the production issue, part 2): the same behavioural tests against local disk and
// S3 (s3rver, started by the test setup); failed S3 deletes kept and retried; presigned uploads.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { rows, sql } from '../src/db/client.js';
import { transaction } from '../src/shared/effects.js';
import { newId } from '../src/shared/ids.js';
import { LocalStorage } from '../src/storage/local.js';
import { objectKey, type Storage } from '../src/storage/port.js';
import { isolatedDatabase, settle, startApp, type TestApp, type TestUser } from './helpers/app.js';
import { bytesUnder, s3Env, startS3 } from './helpers/s3.js';

const MiB = 1024 * 1024;

interface Backend {
  kind: 'local' | 's3';
  start(): Promise<TestApp>;
  /** The storage under test, with a public URL that really serves its objects. */
  storage(t: TestApp): Storage;
  /** Base of the public URLs: S3_PUBLIC_URL, or the app's /uploads. */
  publicBase(t: TestApp): string;
  /** The folder the store keeps its bytes in (s3rver keeps objects and parts as files). */
  disk(t: TestApp): string;
}

const backends: Backend[] = [
  {
    kind: 'local',
    start: () => startApp(),
    // The app serves its upload folder at /uploads; this instance names its real address.
    storage: (t) => new LocalStorage((t.deps.storage as LocalStorage).dir, `${t.url}/uploads`),
    publicBase: (t) => `${t.url}/uploads`,
    disk: (t) => (t.deps.storage as LocalStorage).dir,
  },
  {
    kind: 's3',
    start: () => startApp({ STORAGE: 's3' }),
    storage: (t) => t.deps.storage,
    publicBase: () => `${inject('s3').url}/${inject('s3').bucket}`,
    disk: () => inject('s3').directory,
  },
];

async function sha256Of(body: ReadableStream<Uint8Array> | null): Promise<{ hash: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { hash: hash.digest('hex'), size };
}

async function waitFor(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await settle(25);
  }
  return check();
}

describe.each(backends)('$kind storage', (backend) => {
  let t: TestApp;
  let storage: Storage;
  beforeAll(async () => {
    t = await backend.start();
    storage = backend.storage(t);
  });
  afterAll(() => t?.close());

  it('is the kind the configuration asks for', () => {
    expect(t.deps.storage.kind).toBe(backend.kind);
  });

  it('stores a buffer under its key and serves it at its public URL with its type', async () => {
    const chatId = newId();
    const key = objectKey(`chats/${chatId}`, '1000231137.jpg');
    const bytes = Buffer.from('not really a jpeg, but bytes all the same');
    const stored = await storage.put(key, bytes, 'image/jpeg');
    expect(stored).toEqual({ key, url: `${backend.publicBase(t)}/${key}`, size: bytes.length });
    // The layout of the spec's URLs: chats/<chatId>/<ms>-<random>-<name>.
    expect(stored.url).toMatch(new RegExp(`/chats/${chatId}/\\d{13}-\\d{16}-1000231137\\.jpg$`));
    const res = await fetch(stored.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('stores a stream of unknown length and reports the size it stored', async () => {
    const key = objectKey(`users/${newId()}`, 'voice note.m4a');
    expect(key).toMatch(/^users\/[0-9a-f]{24}\/\d{13}-\d{16}-voice_note\.m4a$/);
    const chunks = [Buffer.alloc(70_000, 1), Buffer.alloc(3, 2), Buffer.alloc(12_345, 3)];
    const stored = await storage.put(key, Readable.from(chunks, { objectMode: false }), 'audio/mp4');
    expect(stored.size).toBe(82_348);
    const res = await fetch(stored.url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('streams a 100 MB file into the store as it arrives, never holding it whole', async () => {
    const key = objectKey(`chats/${newId()}`, 'video.mp4');
    const disk = backend.disk(t);
    const before = bytesUnder(disk);
    const source = createHash('sha256');
    let landedBeforeTheEnd = false;
    async function* video() {
      for (let i = 0; i < 100; i++) {
        const chunk = Buffer.alloc(MiB, i % 251);
        source.update(chunk);
        yield chunk;
        // Halfway, the producer waits for bytes to reach the store's disk. A store that buffers
        // the whole body writes nothing before the end, and this wait would time out.
        if (i === 47) landedBeforeTheEnd = await waitFor(() => bytesUnder(disk) - before >= 8 * MiB, 20_000);
      }
    }
    const stored = await storage.put(key, Readable.from(video(), { objectMode: false }), 'video/mp4');
    expect(landedBeforeTheEnd).toBe(true);
    expect(stored.size).toBe(100 * MiB);
    const res = await fetch(stored.url);
    expect(res.status).toBe(200);
    expect(await sha256Of(res.body)).toEqual({ hash: source.digest('hex'), size: 100 * MiB });
    await storage.delete(key);
  }, 120_000);

  it('rejects with the source error when the body fails midway, and keeps nothing', async () => {
    const key = objectKey(`chats/${newId()}`, 'cut.mp4');
    const cut = new Error('the client went away');
    async function* broken() {
      // Past one multipart part, so S3 has parts to abort.
      for (let i = 0; i < 10; i++) yield Buffer.alloc(MiB, i);
      throw cut;
    }
    await expect(storage.put(key, Readable.from(broken(), { objectMode: false }), 'video/mp4')).rejects.toBe(cut);
    expect((await fetch(storage.urlFor(key))).status).toBe(404);
  });

  it('deletes an object; deleting a key that is not there succeeds', async () => {
    const key = objectKey(`chats/${newId()}`, 'gone.txt');
    const { url } = await storage.put(key, Buffer.from('bye'), 'text/plain');
    expect((await fetch(url)).status).toBe(200);
    await storage.delete(key);
    expect((await fetch(url)).status).toBe(404);
    await expect(storage.delete(key)).resolves.toBeUndefined();
    await expect(storage.delete(objectKey(`chats/${newId()}`, 'never-stored.jpg'))).resolves.toBeUndefined();
  });

  it('keyFromUrl: the key of its own URLs, null for anything else', () => {
    const base = backend.publicBase(t);
    const key = objectKey(`chats/${newId()}`, 'photo.png');
    expect(storage.keyFromUrl(storage.urlFor(key))).toBe(key);
    expect(storage.keyFromUrl(`${base}/${key}?v=2`)).toBe(key);
    expect(storage.keyFromUrl(`https://elsewhere.example.com/${key}`)).toBeNull();
    expect(storage.keyFromUrl(`${base}x/${key}`)).toBeNull();
    expect(storage.keyFromUrl(`${base}/chats/../../etc/passwd`)).toBeNull();
    expect(storage.keyFromUrl(`${base}/chats//x.jpg`)).toBeNull();
    expect(storage.keyFromUrl(`${base}/%E0%A4%A`)).toBeNull();
  });
});

describe('S3 deletes that fail (rulings.md 29)', () => {
  it('stay in pending_object_deletes and are done by a later sweep once S3 answers again', async () => {
    // An s3rver of this test's own, to stop and start again on the same port and folder; a database
    // of its own, so the sweep sees only this test's rows.
    let s3 = await startS3({ bucket: 'chat-retry' });
    const database = await isolatedDatabase();
    const t = await startApp({ ...s3Env(s3), ...database.env });
    try {
      const key = objectKey(`chats/${newId()}`, 'photo.jpg');
      const { url } = await t.deps.storage.put(key, Buffer.from('photo bytes'), 'image/jpeg');
      expect((await fetch(url)).status).toBe(200);

      await s3.stop();
      await transaction(t.deps, async (_tx, effects) => effects.deleteObject(key));
      const pending = () =>
        rows<{ attempts: number; lastError: string | null; due: boolean }>(
          t.deps.database.db,
          sql`select attempts, last_error as "lastError", next_attempt_at <= now() as due
              from pending_object_deletes where key = ${key}`,
        );
      // The delete tried right after commit failed: the row stays, with the error and a later attempt.
      expect(await waitFor(async () => (await pending())[0]?.attempts === 1, 10_000)).toBe(true);
      const [row] = await pending();
      expect(row.lastError).toMatch(/ECONNREFUSED|connect/i);
      expect(row.due).toBe(false);

      s3 = await startS3({ bucket: 'chat-retry', port: s3.port, directory: s3.directory });
      expect((await fetch(url)).status).toBe(200);
      // Not due yet (backoff): a sweep leaves it.
      await t.deps.objectDeleter.sweep();
      expect(await pending()).toEqual([{ attempts: 1, lastError: row.lastError, due: false }]);
      expect((await fetch(url)).status).toBe(200);
      await t.deps.database.db.execute(sql`update pending_object_deletes set next_attempt_at = now() where key = ${key}`);
      expect(await t.deps.objectDeleter.sweep()).toBeGreaterThanOrEqual(1);
      expect(await pending()).toEqual([]);
      expect((await fetch(url)).status).toBe(404);
    } finally {
      await t.close();
      await s3.destroy();
      await database.drop();
    }
  });

  it('a missing bucket fails the delete too, and the row stays', async () => {
    const s3 = inject('s3');
    const database = await isolatedDatabase();
    const t = await startApp({ ...s3Env({ url: s3.url, bucket: 'no-such-bucket' }), ...database.env });
    try {
      const key = objectKey(`chats/${newId()}`, 'photo.jpg');
      await expect(t.deps.storage.delete(key)).rejects.toThrow(/bucket/i);
      await transaction(t.deps, async (_tx, effects) => effects.deleteObject(key));
      await t.deps.objectDeleter.stop(); // waits for the delete tried after commit
      const left = await rows<{ attempts: number; lastError: string }>(
        t.deps.database.db,
        sql`select attempts, last_error as "lastError" from pending_object_deletes where key = ${key}`,
      );
      expect(left).toEqual([{ attempts: 1, lastError: expect.stringMatching(/bucket/i) }]);
    } finally {
      await t.close();
      await database.drop();
    }
  });
});

describe('POST /chats/:id/uploads/presign', () => {
  let t: TestApp;
  let a: TestUser;
  let b: TestUser;
  let chatId: string;
  const presign = (user: TestUser | null, id: string, payload: unknown) =>
    t.app.inject({
      method: 'POST',
      url: `/chats/${id}/uploads/presign`,
      headers: user ? user.auth : {},
      payload: payload as object,
    });

  beforeAll(async () => {
    t = await startApp({ STORAGE: 's3' });
    [a, b] = [await t.user(), await t.user()];
    const followed = await t.app.inject({ method: 'POST', url: `/users/${b.id}/follow`, headers: a.auth });
    expect(followed.statusCode).toBe(200);
    const created = await t.app.inject({ method: 'POST', url: '/chats', headers: a.auth, payload: { user: b.id } });
    expect(created.statusCode).toBe(201);
    chatId = created.json().chat._id;
  });
  afterAll(() => t?.close());

  it('answers {url, fileUrl}; a PUT to url stores the file that fileUrl serves', async () => {
    const res = await presign(b, chatId, { fileName: 'IMG 0006.jpg', contentType: 'image/jpeg', size: 11 });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['fileUrl', 'url']);
    const { url: s3Url, bucket } = inject('s3');
    expect(body.fileUrl).toMatch(new RegExp(`^${s3Url}/${bucket}/chats/${chatId}/\\d{13}-\\d{16}-IMG_0006\\.jpg$`));
    const signed = new URL(body.url);
    expect(`${signed.origin}${signed.pathname}`).toBe(body.fileUrl);
    expect(signed.searchParams.get('X-Amz-Expires')).toBe('900');
    // Type and size are signed: the store refuses a PUT of another type or size.
    expect(signed.searchParams.get('X-Amz-SignedHeaders')?.split(';')).toEqual(['content-length', 'content-type', 'host']);

    const put = await fetch(body.url, { method: 'PUT', headers: { 'content-type': 'image/jpeg' }, body: 'jpeg  bytes' });
    expect(put.status).toBe(200);
    const got = await fetch(body.fileUrl);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('image/jpeg');
    expect(await got.text()).toBe('jpeg  bytes');
    expect(t.deps.storage.keyFromUrl(body.fileUrl)).toBe(body.fileUrl.slice(`${s3Url}/${bucket}/`.length));

    // The uploaded file's URL goes into a message like any upload's.
    const message = await t.app.inject({
      method: 'POST',
      url: `/chats/${chatId}/messages`,
      headers: b.auth,
      payload: { files: [{ url: body.fileUrl }] },
    });
    expect(message.statusCode).toBe(201);
    expect(message.json().message.files[0].url).toBe(body.fileUrl);
  });

  it('signs no length when no size is given', async () => {
    const res = await presign(a, chatId, { fileName: 'notes.pdf', contentType: 'application/pdf' });
    expect(res.statusCode).toBe(200);
    const signed = new URL(res.json().url);
    expect(signed.searchParams.get('X-Amz-SignedHeaders')?.split(';')).toEqual(['content-type', 'host']);
  });

  it('answers 403 NOT_A_PARTICIPANT to a user outside the chat and 404 CHAT_NOT_FOUND for no chat', async () => {
    const outsider = await t.user();
    const payload = { fileName: 'a.jpg', contentType: 'image/jpeg' };
    const forbidden = await presign(outsider, chatId, payload);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json()).toMatchObject({ statusCode: 403, error: 'Forbidden', code: 'NOT_A_PARTICIPANT' });
    const missing = await presign(a, newId(), payload);
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ statusCode: 404, code: 'CHAT_NOT_FOUND' });
    const unauthorized = await presign(null, chatId, payload);
    expect(unauthorized.statusCode).toBe(401);
  });

  it.each([
    [{ fileName: 'a.jpg', contentType: 'image/jpeg', extra: 1 }, 'extra'],
    [{ contentType: 'image/jpeg' }, 'fileName'],
    [{ fileName: '   ', contentType: 'image/jpeg' }, 'fileName'],
    [{ fileName: 'a.jpg' }, 'contentType'],
    [{ fileName: 'a.jpg', contentType: 'jpeg' }, 'contentType'],
    [{ fileName: 'a.jpg', contentType: 'image/jpeg; charset=x' }, 'contentType'],
    [{ fileName: 'a.jpg', contentType: 'image/jpeg', size: 0 }, 'size'],
    [{ fileName: 'a.jpg', contentType: 'image/jpeg', size: '12' }, 'size'],
  ])('answers 400 naming the field for %j', async (payload, field) => {
    const res = await presign(a, chatId, payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field });
  });

  it('answers 400 for a chat id that is not an id', async () => {
    const res = await presign(a, 'nope', { fileName: 'a.jpg', contentType: 'image/jpeg' });
    expect(res.statusCode).toBe(400);
  });

  it.each(['image/svg+xml', 'application/x-msdownload', 'text/html', 'application/zip'])(
    'answers 415 for %s',
    async (contentType) => {
      const res = await presign(a, chatId, { fileName: 'file.bin', contentType });
      expect(res.statusCode).toBe(415);
      expect(res.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', field: 'contentType' });
    },
  );

  it('answers 413 for a size over the upload limit', async () => {
    const limit = t.deps.config.limits.uploadMaxBytes;
    const ok = await presign(a, chatId, { fileName: 'v.mp4', contentType: 'video/mp4', size: limit });
    expect(ok.statusCode).toBe(200);
    const res = await presign(a, chatId, { fileName: 'v.mp4', contentType: 'video/mp4', size: limit + 1 });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'size' });
  });

  it('answers 400 DIRECT_UPLOAD_UNAVAILABLE on local storage', async () => {
    const local = await startApp();
    try {
      const [x, y] = [await local.user(), await local.user()];
      await local.app.inject({ method: 'POST', url: `/users/${y.id}/follow`, headers: x.auth });
      const created = await local.app.inject({ method: 'POST', url: '/chats', headers: x.auth, payload: { user: y.id } });
      const res = await local.app.inject({
        method: 'POST',
        url: `/chats/${created.json().chat._id}/uploads/presign`,
        headers: x.auth,
        payload: { fileName: 'a.jpg', contentType: 'image/jpeg' },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'DIRECT_UPLOAD_UNAVAILABLE' });
    } finally {
      await local.close();
    }
  });
});
