/**
 * A bound on how deeply a request body nests arrays and objects. `JSON.parse` takes any depth, but
 * the recursive work after it does not: `JSON.stringify` of the body for the upstream (inside an
 * attempt, where the stack overflow read as the upstream failing and cooled a healthy model down for
 * every client), error messages, fastify's serialiser. A 20 KB body of 10,000 nested arrays did that.
 * Real requests nest tool schemas a few dozen levels at most.
 * @module
 */

/** The deepest nesting of arrays and objects a request body may have. */
export const MAX_BODY_DEPTH = 128;

/**
 * Whether `value` (a parsed JSON body) nests arrays and objects deeper than `max` levels. Walks the
 * containers only (a long string is one value), without recursion; a body shorter than `2 × max`
 * characters (`textLength`) cannot nest that deep, and is not walked at all.
 */
export function nestsDeeperThan(value: unknown, textLength: number, max = MAX_BODY_DEPTH): boolean {
  if (textLength <= 2 * max || typeof value !== 'object' || value === null) return false;
  const values: object[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop()!;
    const depth = depths.pop()!;
    if (depth > max) return true;
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const c of children) {
      if (typeof c === 'object' && c !== null) {
        values.push(c);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
