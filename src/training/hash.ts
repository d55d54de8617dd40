/**
 * The stable hash behind cross-validation folds and record weighting.
 * @module
 */

/** 32-bit FNV-1a hash of the UTF-8 bytes of `s` (fold assignment in `crossValidate` and `train --auto`). */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(s, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
