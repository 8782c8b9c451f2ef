// rulings.md 23: a chat photo is an image (jpeg, png, webp, avif, gif) checked by its content,
// never by its name or the client's content type.
import sharp from 'sharp';

export interface SniffedImage {
  /** The file extension the stored object gets (the sniffed type, not the client's name). */
  extension: 'jpg' | 'png' | 'webp' | 'avif' | 'gif';
  contentType: string;
}

const TYPES: Record<SniffedImage['extension'], string> = {
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
  gif: 'image/gif',
};

/**
 * The image type of these bytes, or null when they are not one of the allowed images. libvips
 * reads the header (it must be a decodable image, not only the right magic bytes); HEIF counts
 * only as AVIF when its codec is AV1 (HEIC is not allowed).
 */
export async function sniffImage(data: Buffer): Promise<SniffedImage | null> {
  if (data.length === 0) return null;
  let format: string | undefined;
  let compression: string | undefined;
  try {
    const meta = await sharp(data).metadata();
    format = meta.format;
    compression = meta.compression;
  } catch {
    return null;
  }
  const extension =
    format === 'jpeg' ? 'jpg'
    : format === 'png' ? 'png'
    : format === 'webp' ? 'webp'
    : format === 'gif' ? 'gif'
    : format === 'heif' && compression === 'av1' ? 'avif'
    : null;
  return extension ? { extension, contentType: TYPES[extension] } : null;
}
