// s3rver (STACK.md: the S3-compatible server installable here) on a loopback port, with its bucket.
// The global setup starts one for the suite; tests that need to stop and restart a server (failed
// deletes) start their own on the same port and folder.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './servers.js';

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string; configs: string[] }[];
}) => S3rverInstance;

// s3rver is CommonJS without types.
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

/** s3rver accepts any well-formed signature made with this key pair. */
export const S3RVER_KEY = 'S3RVER';

export interface RunningS3 {
  url: string;
  port: number;
  bucket: string;
  /** s3rver keeps objects (and multipart parts while they arrive) as files here. */
  directory: string;
  /** Stops the server; the folder stays, so a server started again on it has the same objects. */
  stop(): Promise<void>;
  /** Stops the server and removes its folder. */
  destroy(): Promise<void>;
}

export async function startS3(
  options: { bucket?: string; port?: number; directory?: string } = {},
): Promise<RunningS3> {
  const bucket = options.bucket ?? 'chat-test';
  const directory = options.directory ?? mkdtempSync(path.join(tmpdir(), 'chat-s3-'));
  const port = options.port ?? (await freePort());
  const server = new S3rver({
    address: '127.0.0.1',
    port,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  await server.run();
  let running = true;
  const stop = async () => {
    if (running) await server.close();
    running = false;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    bucket,
    directory,
    stop,
    async destroy() {
      await stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The S3_* variables of an app storing in this server's bucket (public URL: path style). */
export function s3Env(s3: { url: string; bucket: string }): Record<string, string> {
  return {
    S3_ENDPOINT: s3.url,
    S3_REGION: 'us-east-1',
    S3_BUCKET: s3.bucket,
    S3_ACCESS_KEY_ID: S3RVER_KEY,
    S3_SECRET_ACCESS_KEY: S3RVER_KEY,
    S3_PUBLIC_URL: `${s3.url}/${s3.bucket}`,
    S3_FORCE_PATH_STYLE: 'true',
  };
}

/** Bytes of all files under a folder (missing folder: 0). */
export function bytesUnder(dir: string): number {
  let total = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += bytesUnder(full);
    else if (entry.isFile()) {
      try {
        total += statSync(full).size;
      } catch {
        // renamed or removed while we looked
      }
    }
  }
  return total;
}
