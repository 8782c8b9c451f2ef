// rulings.md 1: ids are 24 lowercase hex characters in MongoDB ObjectId layout:
// 4 bytes of seconds since the epoch, 5 random bytes fixed per process, a 3-byte counter.
import { randomBytes, randomInt } from 'node:crypto';

const processPart = randomBytes(5).toString('hex');
let counter = randomInt(0, 0xffffff);

export const ID_PATTERN = '^[0-9a-f]{24}$';
const idRegex = new RegExp(ID_PATTERN);

export function newId(at: Date = new Date()): string {
  counter = (counter + 1) & 0xffffff;
  const seconds = Math.floor(at.getTime() / 1000)
    .toString(16)
    .padStart(8, '0');
  return seconds + processPart + counter.toString(16).padStart(6, '0');
}

export function isId(value: unknown): value is string {
  return typeof value === 'string' && idRegex.test(value);
}
