// S3-compatible object storage (Cloudflare R2, AWS S3, MinIO; s3rver in the tests). Objects are
// read by clients straight from the bucket's public URL (S3_PUBLIC_URL, as R2 serves it), so the
// URLs and keys look like the spec's: <S3_PUBLIC_URL>/chats/<chatId>/<ms>-<random>-<name>.
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { DeleteObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Config } from '../config.js';
import { keyFromPublicUrl, type PresignedPut, type Storage, type StoredObject } from './port.js';

export type S3Config = Extract<Config['storage'], { kind: 's3' }>;

/**
 * Multipart part size and how many parts are in flight: an upload holds at most about
 * PART_SIZE * QUEUE_SIZE bytes in memory (16 MiB), whatever the size of the file.
 */
const PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;

/** Keys are unique (time + random), so an object never changes once written. */
const CACHE_CONTROL = 'public, max-age=31536000, immutable';

/** Counts the bytes that pass, so put() reports the size it stored without buffering. */
class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

export class S3Storage implements Storage {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  private readonly publicUrl: string;

  constructor(private readonly config: S3Config) {
    this.publicUrl = config.publicUrl.replace(/\/+$/, '');
    this.client = new S3Client({
      region: config.region,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle,
      ...(config.accessKeyId && config.secretAccessKey
        ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } }
        : {}),
      // STACK.md: with the SDK's default (checksums on every request) streamed bodies are sent
      // aws-chunked, which R2 and s3rver store as raw chunked bytes.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(key: string, body: Readable | Buffer, contentType: string): Promise<StoredObject> {
    if (Buffer.isBuffer(body)) {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.config.bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
          ContentLength: body.length,
          CacheControl: CACHE_CONTROL,
        }),
      );
      return { key, url: this.urlFor(key), size: body.length };
    }
    // A stream of unknown length (a 100 MB video from a multipart request) goes up in parts of
    // PART_SIZE, read from the stream as the previous parts are sent: never buffered whole.
    // A failed upload aborts its multipart upload, so no parts are left behind (a process killed
    // mid-upload leaves parts: the bucket's AbortIncompleteMultipartUpload lifecycle rule ends them).
    const counter = new ByteCounter();
    // An error on either side destroys both: a broken request body fails the upload, and a failed
    // upload stops reading the request body.
    let sourceError: unknown = null;
    body.once('error', (error) => {
      sourceError ??= error;
    });
    pipeline(body, counter, () => {});
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.config.bucket,
        Key: key,
        Body: counter,
        ContentType: contentType,
        CacheControl: CACHE_CONTROL,
      },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      counter.destroy();
      // The body's own error (a client gone, an upload over the size limit) is the cause the
      // caller answers with, not what S3 said while the upload was aborted.
      throw sourceError ?? error;
    }
    return { key, url: this.urlFor(key), size: counter.bytes };
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
    } catch (error) {
      // S3 answers 204 for a missing key; some compatible stores answer NoSuchKey. Either way the
      // object is gone, which is what the caller wants. Every other failure is thrown, so the
      // pending_object_deletes row stays and the delete is retried (rulings.md 29).
      if (error instanceof S3ServiceException && error.name === 'NoSuchKey') return;
      throw error;
    }
  }

  urlFor(key: string): string {
    return `${this.publicUrl}/${key}`;
  }

  keyFromUrl(url: string): string | null {
    return keyFromPublicUrl(this.publicUrl, url);
  }

  /**
   * A URL the client PUTs the file to directly. Content-Type, and Content-Length when the size is
   * given, are signed: the store refuses a PUT with another type or size.
   */
  async presignPut(key: string, contentType: string, size?: number): Promise<PresignedPut> {
    const command = new PutObjectCommand({
      Bucket: this.config.bucket,
      Key: key,
      ContentType: contentType,
      ...(size !== undefined ? { ContentLength: size } : {}),
    });
    const url = await getSignedUrl(this.client, command, {
      expiresIn: this.config.presignExpiresSeconds,
      signableHeaders: new Set(['content-type', ...(size !== undefined ? ['content-length'] : [])]),
    });
    return { url, fileUrl: this.urlFor(key) };
  }

  close(): void {
    this.client.destroy();
  }
}
