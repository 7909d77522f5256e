/**
 * Renders an HTML file to a PNG with headless Chromium, to check that a report really draws (and to look at it).
 * Chromium runs fully offline: no network services, a throw-away profile directory.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Environment variable naming the Chromium (or Chrome) binary to use. */
export const CHROMIUM_ENV = 'RPG_CHROMIUM';
/** Names looked up on PATH, in order, when `RPG_CHROMIUM` is not set. */
export const CHROMIUM_NAMES: readonly string[] = ['chromium', 'chromium-browser', 'google-chrome'];

const HOW_TO_INSTALL =
  'run `bash infra/scripts/setup-chromium.sh` (Debian/Ubuntu: installs the `chromium` package), ' +
  `or set ${CHROMIUM_ENV}=/path/to/chromium`;

export interface RenderOptions {
  /** The browser binary; default {@link findChromium}. */
  chromium?: string;
  width?: number;
  height?: number;
  timeoutMs?: number;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The Chromium binary to use: `$RPG_CHROMIUM` when set (an error if it is not an executable file: a wrong
 * explicit choice is not silently replaced), else the first of `chromium`, `chromium-browser`, `google-chrome`
 * found on PATH; null if none.
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  const forced = env[CHROMIUM_ENV];
  if (forced) {
    if (!isExecutableFile(forced)) throw new Error(`${CHROMIUM_ENV}=${forced} is not an executable file`);
    return forced;
  }
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of CHROMIUM_NAMES) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return null;
}

/** Whether a Chromium binary is there (`chromium` given, else {@link findChromium}). */
export function chromiumAvailable(chromium?: string): boolean {
  if (chromium !== undefined) return isExecutableFile(chromium);
  try {
    return findChromium() !== null;
  } catch {
    return false;
  }
}

/**
 * The binary to run, or an error that names what is missing and how to get it (used by {@link renderToPng} and
 * by the render test, which must fail, not skip, without a browser).
 */
export function requireChromium(chromium?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (chromium !== undefined) {
    if (!isExecutableFile(chromium))
      throw new Error(`Chromium binary ${chromium} not found: ${HOW_TO_INSTALL}`);
    return chromium;
  }
  const found = findChromium(env);
  if (!found) {
    throw new Error(
      `Chromium not found: ${CHROMIUM_ENV} is not set and none of ${CHROMIUM_NAMES.join(', ')} is on PATH; ${HOW_TO_INSTALL}`,
    );
  }
  return found;
}

/** Screenshots `htmlPath` into `pngPath` (default window 1200×1600); returns the PNG's size in bytes. */
export async function renderToPng(
  htmlPath: string,
  pngPath: string,
  opts: RenderOptions = {},
): Promise<{ bytes: number }> {
  const chromium = requireChromium(opts.chromium);
  const profile = await mkdtemp(join(tmpdir(), 'rpg-chromium-'));
  const png = resolve(pngPath);
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--hide-scrollbars',
    `--user-data-dir=${profile}`,
    `--screenshot=${png}`,
    `--window-size=${opts.width ?? 1200},${opts.height ?? 1600}`,
    pathToFileURL(resolve(htmlPath)).href,
  ];
  try {
    await new Promise<void>((ok, fail) => {
      execFile(chromium, args, { timeout: opts.timeoutMs ?? 60_000 }, (err, _stdout, stderr) => {
        if (err)
          fail(new Error(`${chromium} failed to render ${htmlPath}: ${err.message}\n${stderr.slice(-2000)}`));
        else ok();
      });
    });
    const s = await stat(png).catch(() => null);
    if (!s) throw new Error(`${chromium} exited without writing ${png}`);
    return { bytes: s.size };
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}
