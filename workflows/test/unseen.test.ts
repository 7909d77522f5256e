import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { useBackend, useTempDir } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { runUnseenLocal, type UnseenRunResult } from '../src/run-unseen-local.js';
import { loadUnseenConfig, parseUnseenConfig } from '../src/unseen-config.js';
import { unseenFigures } from '../src/unseen-figures.js';
import { tinyUnseenConfig } from './tiny-unseen-config.js';

useBackend();
const root = useTempDir('rpg-unseen-');

describe('unseen tasks in-process on a tiny config', () => {
  let result: UnseenRunResult;

  it('generates working heads for tasks the generator never saw, only with the task embedding', async () => {
    result = await runUnseenLocal(parseUnseenConfig(tinyUnseenConfig()), { storeDir: join(root(), 'a') });
    const { unseen, seen } = result.report.summary;
    expect(unseen?.tasks).toBe(4);
    expect(seen?.tasks).toBe(2);
    // The held-out tasks really were held out.
    const seenIds = new Set(result.split.seen.map((t) => t.positive.join(',')));
    expect(result.split.unseen.some((t) => seenIds.has(t.positive.join(',')))).toBe(false);
    // Conditioning works: far above answering the majority label, and far above the same generator without
    // the embedding (which can only produce one head for every task).
    expect(unseen!.generatedAvg).toBeGreaterThan(unseen!.chanceAvg + 10);
    expect(unseen!.generatedAvg).toBeGreaterThan(unseen!.ablationAvg! + 8);
    expect(unseen!.ratio).toBeGreaterThan(0.85);
    expect(unseenFigures(result.report).targets.ablationTowardsChance).toBe(true);
    for (const row of result.report.tasks) {
      expect(row.generated.count).toBe(2);
      expect(row.ablation?.count).toBe(2);
    }
  });

  it('writes a report with a per-task table and a plot', async () => {
    const html = await readFile(join(result.reportDir, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    for (const t of result.split.unseen) expect(html).toContain(`{${t.positive.join(',')}}`);
    const json = JSON.parse(await readFile(join(result.reportDir, 'report.json'), 'utf8'));
    expect(json.kind).toBe('task-report');
    expect(json.tasks).toHaveLength(6);
  });

  it('reuses every finished stage from the store', async () => {
    const again = await runUnseenLocal(parseUnseenConfig(tinyUnseenConfig()), {
      storeDir: join(root(), 'a'),
    });
    expect(again.refs).toEqual(result.refs);
    expect(again.report.tasks.map((t) => t.generated.all)).toEqual(
      result.report.tasks.map((t) => t.generated.all),
    );
    expect(again.stageSeconds.train!).toBeLessThan(2);
  });

  it('accepts the example config', async () => {
    const example = await loadUnseenConfig(join(import.meta.dirname, '../../examples/mnist-unseen.json'));
    expect(example.tasks.unseen).toBeGreaterThanOrEqual(20);
    expect(example.train.prototype.task?.gate).toBe('head');
  });

  it('names the field of a config without a task embedding', () => {
    const bad = tinyUnseenConfig();
    const { task: _task, ...prototype } = bad.train.prototype;
    bad.train.prototype = prototype;
    expect(() => parseUnseenConfig(bad)).toThrow(/train\.prototype\.task: a task-conditioned generator/);
    const wrongHead = tinyUnseenConfig();
    wrongHead.harvest.network = { type: 'mlp', sizes: [49, 16, 10] };
    expect(() => parseUnseenConfig(wrongHead)).toThrow(
      /harvest\.network: a binary task's network needs 2 outputs/,
    );
  });
});
