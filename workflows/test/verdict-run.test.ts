import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { useTempDir } from '@rpg/core/test-support';
import { parseReport } from '@rpg/evaluator';
import { describe, expect, it } from 'vitest';
import { local } from '../src/commands/local.js';
import { tinyConfig } from './tiny-config.js';

const root = useTempDir('rpg-verdict-');

/** Runs `rpg local` in this process and returns what it wrote to stdout. */
async function rpgLocal(argv: string[]): Promise<{ code: number; stdout: string }> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await local(argv);
    return { code, stdout: chunks.join('') };
  } finally {
    process.stdout.write = write;
  }
}

describe('a run whose generator collapses says so', () => {
  it('ends with a FAILED verdict line in the terminal, report.json and report.html', async () => {
    // 3 training steps: the generator has learned nothing, its networks are at chance.
    const config = { ...tinyConfig({ steps: 3 }), name: 'collapse' };
    const file = join(root(), 'collapse.json');
    await writeFile(file, JSON.stringify(config));
    const store = join(root(), 'store');
    const { code, stdout } = await rpgLocal([file, '--store', store]);
    expect(code).toBe(0);
    const line = stdout.split('\n').find((l) => l.startsWith('FAILED:'));
    expect(line).toBeDefined();
    expect(line).toMatch(/near chance|points below the originals/);

    const html = stdout.match(/^report: (.+)\/report\.html$/m);
    expect(html).not.toBeNull();
    const dir = html![1]!;
    const report = parseReport(JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')));
    expect(report.verdict).toBe('failed');
    expect(report.verdictLine).toBe(line);
    expect(report.generated.avg).toBeLessThan(report.originals.avg - 10);
    expect(await readFile(join(dir, 'report.html'), 'utf8')).toContain('FAILED: generation failed');
  }, 300_000);
});
