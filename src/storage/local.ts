// Local-disk storage, the embedded default: objects are files under one folder, served by the app
// at /uploads/<key>.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isSafeKey, keyFromPublicUrl, type Storage, type StoredObject } from './port.js';

export class LocalStorage implements Storage {
  readonly kind = 'local' as const;

  constructor(
    readonly dir: string,
    private readonly publicUrl: string,
  ) {}

  /** The file of a key, or null when the key could reach outside the folder. */
  pathOf(key: string): string | null {
    if (!isSafeKey(key)) return null;
    const full = path.resolve(this.dir, key);
    return full.startsWith(path.resolve(this.dir) + path.sep) ? full : null;
  }

  async put(key: string, body: Readable | Buffer, _contentType: string): Promise<StoredObject> {
    const file = this.pathOf(key);
    if (!file) throw new Error(`unsafe storage key: ${key}`);
    await mkdir(path.dirname(file), { recursive: true });
    // Written under a temporary name and renamed, so a half-written file is never served.
    const partial = `${file}.partial-${process.pid}-${Date.now()}`;
    const out = createWriteStream(partial);
    try {
      await pipeline(Buffer.isBuffer(body) ? Readable.from([body]) : body, out);
      await rename(partial, file);
    } catch (error) {
      // A write stream destroyed before its file was open still creates the file when the open
      // completes: wait until it has closed, or the file would appear after its removal.
      if (!out.closed) await once(out, 'close').catch(() => {});
      await rm(partial, { force: true });
      throw error;
    }
    const { size } = await stat(file);
    return { key, url: this.urlFor(key), size };
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    if (file) await rm(file, { force: true });
  }

  urlFor(key: string): string {
    return `${this.publicUrl}/${key}`;
  }

  keyFromUrl(url: string): string | null {
    return keyFromPublicUrl(this.publicUrl, url);
  }
}
