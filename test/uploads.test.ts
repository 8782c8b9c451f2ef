// POST /chats/:id/uploads (supporting-api.md "Messages and files"): multipart `file`, checked by
// content, streamed into storage, size-limited; the answer's URL serves the bytes.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { S3Storage } from '../src/storage/s3.js';
import { startApp, type TestApp } from './helpers/app.js';
import { api, groupChat, multipart, oneToOne, pathOf, png, send, upload } from './helpers/messages-fixtures.js';

let t: TestApp;
beforeAll(async () => {
  t = await startApp();
});
afterAll(() => t?.close());

/** The objects stored in a chat's folder, on local disk or in the S3 bucket. */
async function storedFiles(app: TestApp, chatId: string): Promise<string[]> {
  const config = app.deps.config.storage;
  if (config.kind === 'local') {
    const dir = path.join(config.dir, 'chats', chatId);
    return existsSync(dir) ? readdirSync(dir) : [];
  }
  const listed = await (app.deps.storage as S3Storage).client.send(
    new ListObjectsV2Command({ Bucket: config.bucket, Prefix: `chats/${chatId}/` }),
  );
  return (listed.Contents ?? []).map((o) => o.Key!);
}

/** GET of one of our object URLs: the app serves local objects, the bucket serves S3 ones. */
async function fetchObject(app: TestApp, url: string): Promise<{ status: number; type: string | null; bytes: Buffer }> {
  if (app.deps.config.storage.kind === 'local') {
    const res = await app.app.inject({ url: pathOf(url) });
    return { status: res.statusCode, type: String(res.headers['content-type']), bytes: res.rawPayload };
  }
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const ftyp = (brand: string) =>
  Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from(`ftyp${brand}`, 'latin1'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2', 'latin1')]);

describe('POST /chats/:id/uploads', () => {
  it.each([
    ['photo.jpg', () => sharp({ create: { width: 4, height: 4, channels: 3, background: '#00f' } }).jpeg().toBuffer(), 'image'],
    ['anim.gif', async () => Buffer.concat([Buffer.from('GIF89a', 'latin1'), randomBytes(64)]), 'image'],
    ['clip.mp4', async () => Buffer.concat([ftyp('isom'), randomBytes(256)]), 'video'],
    ['clip.mov', async () => Buffer.concat([ftyp('qt  '), randomBytes(256)]), 'video'],
    ['voice.m4a', async () => Buffer.concat([ftyp('M4A '), randomBytes(256)]), 'audio'],
    ['song.mp3', async () => Buffer.concat([Buffer.from('ID3', 'latin1'), Buffer.from([3, 0, 0, 0, 0, 0]), randomBytes(256)]), 'audio'],
    ['note.ogg', async () => Buffer.concat([Buffer.from('OggS', 'latin1'), randomBytes(256)]), 'audio'],
    ['slides.pdf', async () => Buffer.from('%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n', 'latin1'), 'document'],
    ['report.docx', async () => Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), randomBytes(128)]), 'document'],
    ['notes.txt', async () => Buffer.from('Lecture notes — ünïcode is fine\nline 2\n', 'utf8'), 'document'],
    ['grades.csv', async () => Buffer.from('name,grade\nmax,A\n', 'utf8'), 'document'],
  ])('accepts %s by its content as %s', async (fileName, make, mediaType) => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const content = await make();
    const res = await upload(t, a, chatId, fileName, content);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().file.meta).toEqual({ mediaType, fileName, fileSize: content.length });
    expect(res.json().file.url.endsWith(fileName)).toBe(true);
  });

  it.each([
    ['photo.png', Buffer.from('this is only text pretending to be an image')],
    ['song.mp3', Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), randomBytes(200)])],
    ['setup.exe', Buffer.concat([Buffer.from('MZ', 'latin1'), randomBytes(200)])],
    ['archive.zip', Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), randomBytes(128)])],
    ['logo.svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')],
    ['notes.txt', Buffer.concat([Buffer.from('text then '), Buffer.from([0, 1, 2, 3]), randomBytes(64)])],
    ['script.js', Buffer.from('alert(1)')],
  ])('answers 415 UNSUPPORTED_MEDIA_TYPE for %s whose content is not an allowed type, and stores nothing', async (fileName, content) => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const res = await upload(t, a, chatId, fileName, content, 'image/png');
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ statusCode: 415, error: 'Unsupported Media Type', code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(await storedFiles(t, chatId)).toEqual([]);
  });

  it('names the object by its real type when the name says otherwise', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const res = await upload(t, a, chatId, 'scan.txt', await png());
    expect(res.statusCode).toBe(201);
    expect(res.json().file.meta).toMatchObject({ mediaType: 'image', fileName: 'scan.txt' });
    expect(res.json().file.url).toMatch(/-scan\.txt\.png$/);
    const served = await t.app.inject({ url: pathOf(res.json().file.url) });
    expect(served.headers['content-type']).toBe('image/png');
  });

  it('is for participants only (403 NOT_A_PARTICIPANT) of existing chats (404 CHAT_NOT_FOUND), storing nothing', async () => {
    const [a, b, stranger] = [await t.user(), await t.user(), await t.user()];
    const chat = await groupChat(t, a, [b]);
    const res = await upload(t, stranger, chat.id, 'x.png', await png());
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('NOT_A_PARTICIPANT');
    expect(await storedFiles(t, chat.id)).toEqual([]);
    const missing = await upload(t, a, 'abababababababababababab', 'x.png', await png());
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('CHAT_NOT_FOUND');
    const anonymous = await t.app.inject({ method: 'POST', url: `/chats/${chat.id}/uploads` });
    expect(anonymous.statusCode).toBe(401);
  });

  it('answers 400 naming `file` without a file part, with another field name, or for an empty file', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const bodies = [
      multipart([{ name: 'caption', content: 'no file here' }]),
      multipart([{ name: 'photo', filename: 'x.png', contentType: 'image/png', content: await png() }]),
      multipart([{ name: 'file', filename: 'empty.png', contentType: 'image/png', content: Buffer.alloc(0) }]),
    ];
    for (const body of bodies) {
      const res = await t.app.inject({
        method: 'POST',
        url: `/chats/${chatId}/uploads`,
        headers: { ...a.auth, ...body.headers },
        payload: body.payload,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', field: 'file' });
    }
    expect(await storedFiles(t, chatId)).toEqual([]);
  });

  it('answers 415 for a body that is not multipart', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const json = await api(t, a, 'POST', `/chats/${chatId}/uploads`, { file: 'x' });
    expect(json.statusCode).toBe(415);
    expect(json.json().code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('streams a few MB over real HTTP, and a refused file over HTTP gets its answer too', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const video = Buffer.concat([ftyp('mp42'), randomBytes(3 * 1024 * 1024)]);
    const form = new FormData();
    form.append('file', new Blob([video], { type: 'video/mp4' }), 'big.mp4');
    const res = await fetch(`${t.url}/chats/${chatId}/uploads`, { method: 'POST', headers: a.auth, body: form });
    expect(res.status).toBe(201);
    const { file } = await res.json();
    expect(file.meta).toEqual({ mediaType: 'video', fileName: 'big.mp4', fileSize: video.length });
    const served = await fetch(`${t.url}${pathOf(file.url)}`);
    const bytes = Buffer.from(await served.arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(createHash('sha256').update(video).digest('hex'));

    const fake = new FormData();
    fake.append('file', new Blob([randomBytes(2 * 1024 * 1024)], { type: 'video/mp4' }), 'fake.mp4');
    const refused = await fetch(`${t.url}/chats/${chatId}/uploads`, { method: 'POST', headers: a.auth, body: fake });
    expect(refused.status).toBe(415);
    expect((await refused.json()).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(await storedFiles(t, chatId)).toHaveLength(1);
  });
});

// The same behaviour whichever storage holds the objects: local disk (the embedded default) and
// S3 (the suite's s3rver).
describe.each(['local', 's3'] as const)('POST /chats/:id/uploads on %s storage', (storage) => {
  // This block's own app (shadows the file's local-storage one).
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp(storage === 's3' ? { STORAGE: 's3' } : {});
  });
  afterAll(() => t?.close());

  it('stores a real PNG and answers 201 {file: {url, meta: {mediaType, fileName, fileSize}}}; the URL serves the bytes', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const image = await png(16, 12);
    const res = await upload(t, a, chatId, 'holiday photo.png', image, 'image/png');
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      file: {
        url: expect.stringMatching(new RegExp(`^${escape(t.deps.storage.urlFor(`chats/${chatId}/`))}\\d{13}-\\d{16}-holiday_photo\\.png$`)),
        meta: { mediaType: 'image', fileName: 'holiday photo.png', fileSize: image.length },
      },
    });
    const served = await fetchObject(t, res.json().file.url);
    expect(served.status).toBe(200);
    expect(served.type).toBe('image/png');
    expect(served.bytes.equals(image)).toBe(true);
    // The URL is ready to go into a message.
    const message = await send(t, a, chatId, { files: [{ url: res.json().file.url, meta: res.json().file.meta }] });
    expect(message.files[0]).toMatchObject({ url: res.json().file.url, meta: res.json().file.meta });
  });

  it('answers 415 for a file whose content is not what its name says, storing nothing', async () => {
    const [a, b] = [await t.user(), await t.user()];
    const chatId = await oneToOne(t, a, b);
    const res = await upload(t, a, chatId, 'photo.png', Buffer.from('plain text named like a picture'), 'image/png');
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(await storedFiles(t, chatId)).toEqual([]);
  });

  describe('over the size limit', () => {
    let small: TestApp;
    beforeAll(async () => {
      small = await startApp({ UPLOAD_MAX_BYTES: '2048', ...(storage === 's3' ? { STORAGE: 's3' } : {}) });
    });
    afterAll(() => small?.close());

    it('answers 413 PAYLOAD_TOO_LARGE and leaves no object (nor a partial one) on disk', async () => {
      const [a, b] = [await small.user(), await small.user()];
      const chatId = await oneToOne(small, a, b);
      const big = Buffer.concat([await png(), randomBytes(5000)]);
      const res = await upload(small, a, chatId, 'big.png', big);
      expect(res.statusCode).toBe(413);
      expect(res.json()).toMatchObject({ statusCode: 413, error: 'Payload Too Large', code: 'PAYLOAD_TOO_LARGE' });
      expect(await storedFiles(small, chatId)).toEqual([]);

      // Over real HTTP too, with a body far over the limit.
      const form = new FormData();
      form.append('file', new Blob([Buffer.concat([await png(), randomBytes(1024 * 1024)])]), 'huge.png');
      const http = await fetch(`${small.url}/chats/${chatId}/uploads`, { method: 'POST', headers: a.auth, body: form });
      expect(http.status).toBe(413);
      expect(await storedFiles(small, chatId)).toEqual([]);
    });

    it('accepts a file of exactly the limit', async () => {
      const [a, b] = [await small.user(), await small.user()];
      const chatId = await oneToOne(small, a, b);
      const image = await png();
      const exact = Buffer.concat([image, Buffer.alloc(2048 - image.length)]);
      const res = await upload(small, a, chatId, 'exact.png', exact);
      expect(res.statusCode).toBe(201);
      expect(res.json().file.meta.fileSize).toBe(2048);
      expect(await storedFiles(small, chatId)).toHaveLength(1);
    });
  });
});
