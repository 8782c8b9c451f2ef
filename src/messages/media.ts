// Media types of message files (rulings.md 19) and what an upload really is, judged by its first
// bytes (supporting-api.md "POST /chats/:id/uploads": images, video, audio, documents).
import path from 'node:path';

export const MEDIA_TYPES = ['video', 'audio', 'image', 'document', 'other'] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];

const isMediaType = (value: unknown): value is MediaType =>
  typeof value === 'string' && (MEDIA_TYPES as readonly string[]).includes(value);

const EXTENSION_TYPES: Record<string, MediaType> = {};
const add = (type: MediaType, extensions: string) => {
  for (const ext of extensions.split(' ')) EXTENSION_TYPES[ext] = type;
};
add('video', 'mp4 m4v mov qt webm mkv avi 3gp 3g2 mpeg mpg wmv flv ogv');
add('audio', 'mp3 m4a m4b aac wav ogg oga opus flac amr weba wma mka');
add('image', 'jpg jpeg png gif webp avif heic heif bmp tif tiff svg');
add('document', 'pdf doc docx xls xlsx ppt pptx odt ods odp rtf txt csv tsv md');

/** The lower-case extension of a file name, without the dot ('' when none). */
export function extensionOf(fileName: string): string {
  return path.extname(fileName).slice(1).toLowerCase();
}

/** rulings.md 19: derived from the file name's extension; unknown is `other`. */
export function mediaTypeOfName(fileName: string): MediaType {
  return EXTENSION_TYPES[extensionOf(fileName)] ?? 'other';
}

/** The last path segment of a URL (its file name), or '' when it has none. */
export function fileNameOfUrl(url: string): string {
  try {
    const segment = new URL(url).pathname.split('/').pop() ?? '';
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

/**
 * rulings.md 19: a message file's media type is meta.mediaType when the sender gave a valid one,
 * else derived from the file name: meta.fileName when given, else the URL's last segment.
 */
export function mediaTypeOfFile(file: { url: string; meta?: Record<string, unknown> }): MediaType {
  const given = file.meta?.mediaType;
  if (isMediaType(given)) return given;
  const fileName = typeof file.meta?.fileName === 'string' ? file.meta.fileName : fileNameOfUrl(file.url);
  return mediaTypeOfName(fileName);
}

export interface Sniffed {
  mediaType: Exclude<MediaType, 'other'>;
  contentType: string;
  /** Extensions a file of this type goes by; the first is the one added to a name without one. */
  extensions: string[];
}

/** How many leading bytes sniff() wants to see (enough for the text check). */
export const SNIFF_BYTES = 4096;

const kind = (mediaType: Sniffed['mediaType'], contentType: string, extensions: string): Sniffed => ({
  mediaType,
  contentType,
  extensions: extensions.split(' '),
});

const startsWith = (head: Buffer, offset: number, bytes: number[] | string) => {
  const expected = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes);
  return head.length >= offset + expected.length && head.subarray(offset, offset + expected.length).equals(expected);
};

const OFFICE_ZIP: Record<string, string> = {
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  odt: 'application/vnd.oasis.opendocument.text',
  ods: 'application/vnd.oasis.opendocument.spreadsheet',
  odp: 'application/vnd.oasis.opendocument.presentation',
};
const OFFICE_OLE: Record<string, string> = {
  doc: 'application/msword',
  xls: 'application/vnd.ms-excel',
  ppt: 'application/vnd.ms-powerpoint',
};
const TEXT: Record<string, string> = { txt: 'text/plain', csv: 'text/csv', tsv: 'text/tab-separated-values', md: 'text/markdown' };

/**
 * What the file is, from its first bytes (magic numbers), or null when it is not an allowed
 * type. The name only decides what the bytes cannot: audio or video for containers that carry
 * both (MP4, WebM, Ogg, ASF), which office format a ZIP/OLE2 file is, and that a file without
 * magic bytes is plain text. SVG is not accepted: it can carry scripts and we serve uploads from
 * our own origin.
 */
export function sniff(head: Buffer, fileName: string): Sniffed | null {
  const ext = extensionOf(fileName);
  const audioByName = EXTENSION_TYPES[ext] === 'audio';

  // Images
  if (startsWith(head, 0, [0xff, 0xd8, 0xff])) return kind('image', 'image/jpeg', 'jpg jpeg');
  if (startsWith(head, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return kind('image', 'image/png', 'png');
  if (startsWith(head, 0, 'GIF87a') || startsWith(head, 0, 'GIF89a')) return kind('image', 'image/gif', 'gif');
  if (startsWith(head, 0, 'RIFF') && startsWith(head, 8, 'WEBP')) return kind('image', 'image/webp', 'webp');
  if (startsWith(head, 0, 'II*\0') || startsWith(head, 0, 'MM\0*')) return kind('image', 'image/tiff', 'tif tiff');
  if (startsWith(head, 0, 'BM') && ext === 'bmp') return kind('image', 'image/bmp', 'bmp');

  // ISO base media (MP4, MOV, 3GP, M4A, AVIF, HEIC): the brand of the ftyp box says which.
  if (startsWith(head, 4, 'ftyp') && head.length >= 12) {
    const brand = head.toString('latin1', 8, 12);
    if (brand === 'avif' || brand === 'avis') return kind('image', 'image/avif', 'avif');
    if (['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'].includes(brand)) {
      return kind('image', 'image/heic', 'heic heif');
    }
    if (brand.startsWith('M4A') || brand.startsWith('M4B') || brand.startsWith('M4P') || brand === 'F4A ') {
      return kind('audio', 'audio/mp4', 'm4a m4b aac');
    }
    if (brand === 'qt  ') return kind('video', 'video/quicktime', 'mov qt');
    if (brand.startsWith('3g')) return audioByName ? kind('audio', 'audio/3gpp', ext) : kind('video', 'video/3gpp', '3gp 3g2');
    return audioByName ? kind('audio', 'audio/mp4', 'm4a m4b aac') : kind('video', 'video/mp4', 'mp4 m4v');
  }

  // Other video and audio containers
  if (startsWith(head, 0, [0x1a, 0x45, 0xdf, 0xa3])) {
    return audioByName ? kind('audio', 'audio/webm', 'weba mka') : kind('video', 'video/webm', 'webm mkv');
  }
  if (startsWith(head, 0, 'OggS')) {
    return ext === 'ogv' ? kind('video', 'video/ogg', 'ogv') : kind('audio', 'audio/ogg', 'ogg oga opus');
  }
  if (startsWith(head, 0, 'RIFF') && startsWith(head, 8, 'WAVE')) return kind('audio', 'audio/wav', 'wav');
  if (startsWith(head, 0, 'RIFF') && startsWith(head, 8, 'AVI ')) return kind('video', 'video/x-msvideo', 'avi');
  if (startsWith(head, 0, 'FLV')) return kind('video', 'video/x-flv', 'flv');
  if (startsWith(head, 0, [0x00, 0x00, 0x01, 0xba]) || startsWith(head, 0, [0x00, 0x00, 0x01, 0xb3])) {
    return kind('video', 'video/mpeg', 'mpeg mpg');
  }
  if (startsWith(head, 0, [0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11])) {
    return audioByName ? kind('audio', 'audio/x-ms-wma', 'wma') : kind('video', 'video/x-ms-wmv', 'wmv');
  }
  if (startsWith(head, 0, 'ID3')) return kind('audio', 'audio/mpeg', 'mp3');
  if (startsWith(head, 0, 'fLaC')) return kind('audio', 'audio/flac', 'flac');
  if (startsWith(head, 0, '#!AMR')) return kind('audio', 'audio/amr', 'amr');
  // An MPEG audio frame (MP3 without ID3 tag, or AAC in ADTS): 11 sync bits, a valid layer.
  if (head.length >= 2 && head[0] === 0xff && (head[1] & 0xe0) === 0xe0 && (head[1] & 0x06) !== 0) {
    return kind('audio', 'audio/mpeg', 'mp3');
  }
  if (head.length >= 2 && head[0] === 0xff && (head[1] & 0xf6) === 0xf0) return kind('audio', 'audio/aac', 'aac');

  // Documents
  if (startsWith(head, 0, '%PDF-')) return kind('document', 'application/pdf', 'pdf');
  if (startsWith(head, 0, '{\\rtf')) return kind('document', 'application/rtf', 'rtf');
  // Office files are ZIP (OOXML, OpenDocument) or OLE2 containers; any other ZIP or OLE2 file is refused.
  if (startsWith(head, 0, [0x50, 0x4b, 0x03, 0x04]) && OFFICE_ZIP[ext]) return kind('document', OFFICE_ZIP[ext], ext);
  if (startsWith(head, 0, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]) && OFFICE_OLE[ext]) {
    return kind('document', OFFICE_OLE[ext], ext);
  }
  if (TEXT[ext] && looksLikeText(head)) return kind('document', `${TEXT[ext]}; charset=utf-8`, ext);
  return null;
}

/** UTF-8 without NUL or other binary control bytes (a character cut at the end is fine). */
function looksLikeText(head: Buffer): boolean {
  if (head.length === 0) return false;
  for (const byte of head) {
    if (byte === 0 || (byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d && byte !== 0x0c)) return false;
  }
  // Drop up to 3 trailing bytes of a multi-byte character cut by the sniff window.
  for (let cut = 0; cut <= 3 && cut < head.length; cut++) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, head.length - cut));
      return true;
    } catch {
      // try with the tail shortened
    }
  }
  return false;
}

/**
 * The name the object is stored under: the uploaded name, with the real type's extension added
 * when the name does not already end in one of its extensions ("photo" → "photo.jpg",
 * "scan.txt" holding a PNG → "scan.txt.png"), so the object is served with the right type.
 */
export function storedName(fileName: string, sniffed: Sniffed): string {
  return sniffed.extensions.includes(extensionOf(fileName)) ? fileName : `${fileName}.${sniffed.extensions[0]}`;
}
