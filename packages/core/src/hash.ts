import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * Canonical JSON: object keys sorted recursively, arrays kept in order, no whitespace.
 *
 * Two values that are equal as JSON always produce the same string, which is what makes
 * content-addressed cache keys stable. Anything JSON.stringify would silently drop or mangle
 * (undefined in arrays, functions, NaN, bigint, Maps, class instances...) is rejected instead,
 * because a cache key that silently ignores part of the config would return stale artifacts.
 * `undefined` object properties are dropped, matching JSON.stringify.
 */
export function stableStringify(value: unknown): string {
  const out = write(value, '$', new Set());
  if (out === undefined) throw new TypeError('stableStringify: cannot serialize undefined at $');
  return out;
}

/** Returns undefined only for values that are dropped when they are object properties. */
function write(value: unknown, path: string, seen: Set<object>): string | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw new TypeError(`stableStringify: non-finite number ${value} at ${path}`);
    return JSON.stringify(value);
  }
  if (typeof value !== 'object') {
    // function, bigint, symbol: none has a faithful JSON form.
    throw new TypeError(`stableStringify: cannot serialize ${typeof value} at ${path}`);
  }
  if (seen.has(value)) throw new TypeError(`stableStringify: circular reference at ${path}`);
  seen.add(value);
  try {
    return writeObject(value, path, seen);
  } finally {
    seen.delete(value);
  }
}

function writeObject(value: object, path: string, seen: Set<object>): string | undefined {
  if (Array.isArray(value)) {
    const items = value.map((item, i) => {
      const s = write(item, `${path}[${i}]`, seen);
      // JSON.stringify would turn this into null, changing the meaning; be explicit instead.
      if (s === undefined) throw new TypeError(`stableStringify: undefined array element at ${path}[${i}]`);
      return s;
    });
    return `[${items.join(',')}]`;
  }
  // Honour toJSON (e.g. Date) the same way JSON.stringify does.
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return write(toJSON.call(value), path, seen);

  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    throw new TypeError(`stableStringify: cannot serialize ${name} at ${path} (only plain objects)`);
  }
  const entries: string[] = [];
  for (const key of Object.keys(value).sort()) {
    const s = write((value as Record<string, unknown>)[key], `${path}.${key}`, seen);
    if (s !== undefined) entries.push(`${JSON.stringify(key)}:${s}`);
  }
  return `{${entries.join(',')}}`;
}

/** Hex sha256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hex sha256 of a file, streamed so large weight files never sit in memory whole. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
