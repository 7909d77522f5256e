import { open, stat } from 'node:fs/promises';
import { InputError } from './input-error.js';

/** The largest config file read: the example configs are under 2 KB; a bigger file is almost surely not one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** A JSON file that could not be used: missing, not a regular file, too large or not JSON. */
export class JsonFileError extends InputError {
  override readonly name = 'JsonFileError';
}

/** `1.5 MB`, `12 KB`, `300 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${bytes} bytes`;
}

/**
 * Reads and parses a small JSON file (a config). Refuses, naming the file, what is not a regular file, what is
 * larger than `maxBytes` (checked before reading, so a huge file costs no memory) and what is not JSON.
 */
export async function readJsonFile(
  path: string,
  options: { what?: string; maxBytes?: number } = {},
): Promise<unknown> {
  const what = options.what ?? 'config';
  const maxBytes = options.maxBytes ?? MAX_CONFIG_BYTES;
  let text: string;
  try {
    // stat before open: opening a FIFO would block until something writes to it.
    const info = await stat(path);
    if (info.isDirectory()) throw new JsonFileError(`${what} ${path} is a directory, not a JSON file`);
    if (!info.isFile()) throw new JsonFileError(`${what} ${path} is not a regular file`);
    if (info.size > maxBytes) {
      throw new JsonFileError(
        `${what} ${path} is ${formatBytes(info.size)}; a ${what} file may be at most ${formatBytes(maxBytes)} (is it the right file?)`,
      );
    }
    const handle = await open(path, 'r');
    try {
      // Read at most one byte past the limit: a file that grew after stat is refused too.
      const buffer = Buffer.alloc(Math.min(info.size, maxBytes) + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > maxBytes)
        throw new JsonFileError(`${what} ${path} is larger than ${formatBytes(maxBytes)}`);
      text = new TextDecoder('utf-8', { fatal: true }).decode(buffer.subarray(0, bytesRead));
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof JsonFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'ENOTDIR'
          ? 'a part of the path is not a directory'
          : err instanceof TypeError
            ? 'it is not UTF-8 text'
            : (err as Error).message;
    throw new JsonFileError(`cannot read ${what} ${path}: ${why}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new JsonFileError(`${what} ${path} is not JSON: ${clipped((err as Error).message)}`);
  }
}

function clipped(message: string, max = 200): string {
  return message.length <= max ? message : `${message.slice(0, max)}…`;
}
