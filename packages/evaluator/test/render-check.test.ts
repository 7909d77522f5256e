import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ENV, findChromium, renderToPng, requireChromium } from '../src/render-check.js';
import { renderReportHtml } from '../src/report-html.js';
import { sampleReport } from './sample-report.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rpg-render-'));
});

describe('renderToPng (headless Chromium)', () => {
  it('renders a report to a non-trivial PNG', async () => {
    // No skip without a browser: requireChromium throws, naming what is missing and how to install it.
    const chromium = requireChromium();
    const html = join(dir, 'report.html');
    const png = join(dir, 'report.png');
    await writeFile(html, renderReportHtml(sampleReport()));
    const { bytes } = await renderToPng(html, png, { chromium, width: 1200, height: 1600 });
    const buf = await readFile(png);
    expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(buf.readUInt32BE(16)).toBe(1200); // IHDR width
    expect(buf.readUInt32BE(20)).toBe(1600); // IHDR height
    expect(bytes).toBe(buf.length);
    // A blank 1200×1600 page compresses to a few KB; text, tables and plots take far more.
    expect(bytes).toBeGreaterThan(50_000);
  });

  it('explains how to get Chromium when the binary is missing', async () => {
    await expect(renderToPng('x.html', 'x.png', { chromium: '/nonexistent/chromium' })).rejects.toThrow(
      /\/nonexistent\/chromium not found: run `bash infra\/scripts\/setup-chromium\.sh`/,
    );
    expect(() => requireChromium(undefined, { PATH: join(dir, 'empty') })).toThrow(
      /Chromium not found: RPG_CHROMIUM is not set and none of chromium, chromium-browser, google-chrome is on PATH/,
    );
  });
});

describe('findChromium', () => {
  it('takes $RPG_CHROMIUM, else the first known name on PATH', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await mkdir(a, { recursive: true });
    await mkdir(b, { recursive: true });
    const fake = async (path: string) => {
      await writeFile(path, '#!/bin/sh\nexit 0\n');
      await chmod(path, 0o755);
    };
    await fake(join(a, 'google-chrome'));
    await fake(join(b, 'chromium-browser'));
    await writeFile(join(a, 'chromium'), 'not executable');
    const PATH = [a, b].join(':');
    // `chromium` in a is not executable; chromium-browser (b) comes before google-chrome (a) by name order.
    expect(findChromium({ PATH })).toBe(join(b, 'chromium-browser'));
    expect(findChromium({ PATH: a })).toBe(join(a, 'google-chrome'));
    expect(findChromium({ PATH: join(dir, 'none') })).toBeNull();
    expect(findChromium({ PATH, [CHROMIUM_ENV]: join(a, 'google-chrome') })).toBe(join(a, 'google-chrome'));
    expect(() => findChromium({ PATH, [CHROMIUM_ENV]: join(a, 'chromium') })).toThrow(
      /RPG_CHROMIUM=.*chromium is not an executable file/,
    );
  });
});
