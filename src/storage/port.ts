// The storage port: objects by key. Local disk (embedded default) and S3/R2 implement it.
import type { Readable } from 'node:stream';

export interface StoredObject {
  key: string;
  url: string;
  size: number;
}

/** A URL a client uploads one object to directly (HTTP PUT), and the object's public URL. */
export interface PresignedPut {
  url: string;
  fileUrl: string;
}

export interface Storage {
  readonly kind: 'local' | 's3';
  /** Streams the body into the object; never buffers a whole file. */
  put(key: string, body: Readable | Buffer, contentType: string): Promise<StoredObject>;
  /** Deleting an object that is not there succeeds. */
  delete(key: string): Promise<void>;
  urlFor(key: string): string;
  /** The key of one of our own objects from its public URL, or null for any other URL. */
  keyFromUrl(url: string): string | null;
  /** Direct client uploads; only stores that can sign URLs (S3) have it. */
  presignPut?(key: string, contentType: string, size?: number): Promise<PresignedPut>;
  /** Releases connections (S3 client sockets) when the app closes. */
  close?(): void;
}

const SAFE_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/** Keys are made by us from ids and sanitised names; anything else (.., //, odd bytes) is refused. */
export function isSafeKey(key: string): boolean {
  return key.length <= 512 && SAFE_KEY.test(key) && !key.split('/').some((s) => s === '.' || s === '..');
}

/** `<folder>/<ms>-<random>-<name>`: the layout of the spec's URLs. */
export function objectKey(folder: string, fileName: string, now = Date.now()): string {
  const base = fileName.split(/[\\/]/).pop() ?? 'file';
  const clean = base.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '').slice(-120) || 'file';
  const random = String(Math.random()).slice(2, 18).padEnd(16, '0');
  return `${folder}/${now}-${random}-${clean}`;
}

export function keyFromPublicUrl(publicUrl: string, url: string): string | null {
  const prefix = publicUrl.replace(/\/+$/, '') + '/';
  if (!url.startsWith(prefix)) return null;
  let key: string;
  try {
    key = decodeURIComponent(url.slice(prefix.length).split('?')[0]);
  } catch {
    return null;
  }
  return isSafeKey(key) ? key : null;
}
