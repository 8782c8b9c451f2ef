// Direct client uploads (the production issue, part 2): a presigned PUT URL into the chat's
// folder of the bucket, so a 100 MB video goes from the phone to S3/R2 without passing through
// this service. The file's public URL is then sent in a message like any upload's.
import { requireParticipant } from '../chats/view.js';
import type { Deps } from '../shared/deps.js';
import { AppError } from '../shared/errors.js';
import { objectKey, type PresignedPut } from '../storage/port.js';

/**
 * The types POST /chats/:id/uploads accepts (supporting-api.md: images, video, audio, documents),
 * by declared Content-Type since the bytes never pass here. The type is signed into the URL, so
 * the object is served with it. SVG stays out, as for uploads: it can carry scripts.
 */
const IMAGE = /^image\/(jpeg|png|gif|webp|tiff|bmp|avif|heic|heif)$/;
const VIDEO_AUDIO = /^(video|audio)\/[a-z0-9][a-z0-9.+-]*$/;
const DOCUMENT = new Set([
  'application/pdf',
  'application/rtf',
  'application/msword',
  'application/vnd.ms-excel',
  'application/vnd.ms-powerpoint',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  'application/vnd.oasis.opendocument.text',
  'application/vnd.oasis.opendocument.spreadsheet',
  'application/vnd.oasis.opendocument.presentation',
  'text/plain',
  'text/csv',
  'text/tab-separated-values',
  'text/markdown',
]);

export function isUploadableType(contentType: string): boolean {
  return IMAGE.test(contentType) || VIDEO_AUDIO.test(contentType) || DOCUMENT.has(contentType);
}

export async function presignUpload(
  deps: Deps,
  viewerId: string,
  chatId: string,
  input: { fileName: string; contentType: string; size?: number },
): Promise<PresignedPut> {
  // Who may upload into a chat: its participants, as for POST /chats/:id/uploads.
  await requireParticipant(deps.database.db, chatId, viewerId);
  if (!deps.storage.presignPut) {
    // Local disk has no URL a client could upload to directly. 400, not 501: the request is one
    // this deployment cannot serve, no server fault (rulings.md 4: a 5xx is always a bug); the
    // client falls back to POST /chats/:id/uploads, which every deployment serves.
    throw new AppError(
      'DIRECT_UPLOAD_UNAVAILABLE',
      'Direct uploads need S3 storage; upload through POST /chats/:id/uploads instead',
    );
  }
  const contentType = input.contentType.toLowerCase();
  if (!isUploadableType(contentType)) {
    throw new AppError(
      'UNSUPPORTED_MEDIA_TYPE',
      'Only images, video, audio and documents (PDF, office, text) can be uploaded',
      { field: 'contentType' },
    );
  }
  const limit = deps.config.limits.uploadMaxBytes;
  if (input.size !== undefined && input.size > limit) {
    throw new AppError('PAYLOAD_TOO_LARGE', `The file is larger than ${limit} bytes`, { field: 'size' });
  }
  const fileName = (input.fileName.split(/[\\/]/).pop() ?? '').trim() || 'file';
  return deps.storage.presignPut(objectKey(`chats/${chatId}`, fileName), contentType, input.size);
}
