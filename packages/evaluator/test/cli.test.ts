import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  accuracy,
  type CheckpointsMeta,
  initStateDict,
  loadMnist,
  NETWORK_PRESETS,
  writeCheckpoint,
  writeCheckpointsMeta,
} from '@rpg/checkpoint-harvest';
import { loadBackend, Rng, writeSafetensorsFile } from '@rpg/core';
import { packageCli } from '@rpg/core/test-support';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderReportHtml } from '../src/report-html.js';
import { parseReport } from '../src/report-schema.js';
import { sampleReport } from './sample-report.js';

const cli = packageCli(import.meta.dirname, { timeout: 50_000 });
const run = (args: string[]) => cli(...args);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rpg-eval-cli-'));
});

describe('rpg-evaluator CLI', () => {
  it('prints help', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('rpg-evaluator report <report.json> --html <out.html>');
    expect(r.stdout).toContain('rpg-evaluator accuracy [--network <preset | spec.json>] <checkpoints dir');
    expect(r.stdout).toContain('RPG_CHROMIUM');
  });

  it('re-renders a report.json as HTML', async () => {
    const report = sampleReport();
    const json = join(dir, 'report.json');
    const html = join(dir, 'again.html');
    await writeFile(json, JSON.stringify(report));
    const r = await run(['report', json, '--html', html]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await readFile(html, 'utf8')).toBe(renderReportHtml(parseReport(report)));
  });

  it('fails clearly on bad input', async () => {
    const json = join(dir, 'bad.json');
    await writeFile(json, JSON.stringify({ schemaVersion: 1 }));
    // independent processes: run them side by side
    const [bad, noHtml, unknown, badNet] = await Promise.all([
      run(['report', json, '--html', join(dir, 'x.html')]),
      run(['report', json]),
      run(['frobnicate']),
      run(['accuracy', '--network', 'resnet-9000', 'x.safetensors']),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/not a valid RPG evaluation report/);
    expect(noHtml.code).toBe(1);
    expect(noHtml.stderr).toMatch(/--html/);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    expect(badNet.code).toBe(1);
    expect(badNet.stderr).toMatch(/neither a preset \(mlp, cnn-s, cnn-m\) nor an existing file/);
  });

  it('prints the MNIST test accuracy of checkpoints, equal to the library’s', async () => {
    await loadBackend({ log: null });
    const spec = NETWORK_PRESETS.mlp;
    const files: string[] = [];
    const accs: number[] = [];
    const test = loadMnist({ testSize: 500 }).test;
    for (const seed of [1, 2]) {
      const sd = initStateDict(spec, new Rng(seed));
      const file = join(dir, `ckpt-${seed}.safetensors`);
      await writeSafetensorsFile(file, sd);
      files.push(file);
      accs.push(accuracy(spec, sd, test));
    }
    const r = await run(['accuracy', '--network', 'mlp', '--test-size', '500', ...files]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`ckpt-1.safetensors  ${accs[0]!.toFixed(2)}%`);
    expect(r.stdout).toContain(`ckpt-2.safetensors  ${accs[1]!.toFixed(2)}%`);
    expect(r.stdout).toContain(`2 checkpoint(s)`);
    expect(r.stdout).toContain(`max ${Math.max(...accs).toFixed(2)}`);
  });

  it('evaluates checkpoints directories, taking the network and the MNIST split from checkpoints.json', async () => {
    await loadBackend({ log: null });
    const spec = NETWORK_PRESETS.mlp;
    const test = loadMnist({ seed: 1, testSize: 300 }).test;
    const write = async (name: string, seeds: number[]) => {
      const d = join(dir, name);
      await mkdir(d, { recursive: true });
      const models = seeds.map((s) => initStateDict(spec, new Rng(s)));
      const meta: CheckpointsMeta = {
        format: 'rpg-checkpoints',
        version: 1,
        network: spec,
        dataset: 'mnist-10k-seed1-test300',
        runs: [{}],
        checkpoints: models.map((sd, i) => ({
          file: `m${i}.safetensors`,
          run: 0,
          index: i,
          step: null,
          testAccuracy: accuracy(spec, sd, test),
        })),
      };
      for (const [i, sd] of models.entries()) await writeCheckpoint(d, `m${i}.safetensors`, sd);
      await writeCheckpointsMeta(d, meta);
      return { d, accs: meta.checkpoints.map((c) => c.testAccuracy!) };
    };
    const orig = await write('orig', [11, 12, 13]);
    const gen = await write('gen', [14, 15]);

    const acc = await run(['accuracy', orig.d]);
    expect(acc.stderr).not.toMatch(/rpg-evaluator:/);
    expect(acc.code).toBe(0);
    expect(acc.stdout).toContain(
      `m1.safetensors  ${orig.accs[1]!.toFixed(2)}%  (recorded ${orig.accs[1]!.toFixed(2)}%)`,
    );
    expect(acc.stdout).toContain('3 checkpoint(s) on mnist-10k-seed1-test300 (300 test samples)');

    const out = join(dir, 'eval');
    const r = await run([
      'evaluate',
      '--originals',
      orig.d,
      '--generated',
      gen.d,
      '--out',
      out,
      '--sigmas',
      '0.01',
      '--noise-per-sigma',
      '2',
      '--title',
      'cli run',
    ]);
    expect(r.stderr).not.toMatch(/rpg-evaluator:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/generated best \/ avg \/ min: /);
    expect(r.stdout).not.toContain('note:'); // same split, same accuracies as recorded
    const report = parseReport(JSON.parse(await readFile(join(out, 'report.json'), 'utf8')));
    expect(report.dataset).toEqual({ name: 'mnist-10k-seed1-test300', testSize: 300 });
    expect(report.network).toEqual(spec);
    expect(report.title).toBe('cli run');
    expect(report.generated.all).toEqual(gen.accs);
    expect(await readFile(join(out, 'report.html'), 'utf8')).toContain('<h1>cli run</h1>');

    const wrongNet = await run([
      'evaluate',
      '--network',
      'cnn-s',
      '--originals',
      orig.d,
      '--generated',
      gen.d,
      '--out',
      out,
    ]);
    expect(wrongNet.code).toBe(1);
    expect(wrongNet.stderr).toMatch(/differs from the one .*checkpoints\.json records \(mlp 784-64-10\)/);
  });
});
