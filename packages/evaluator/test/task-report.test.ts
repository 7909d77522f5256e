import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { harvestRun, percentCorrect, predict, syntheticDataset, taskDataset } from '@rpg/checkpoint-harvest';
import type { StateDict } from '@rpg/core';
import { useBackend, useTempDir } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import { renderToPng, requireChromium } from '../src/render-check.js';
import { evaluateTasks, modelStats, summarizeSplit } from '../src/task-evaluate.js';
import { renderTaskReportHtml, writeTaskReport } from '../src/task-report-html.js';
import { parseTaskReport, type TaskReport, type TaskRow } from '../src/task-report-schema.js';

// Four Gaussian classes in 6 dimensions; binary tasks over them.
const data = syntheticDataset({
  seed: 2,
  inputDim: 6,
  numClasses: 4,
  trainSize: 400,
  testSize: 200,
  noise: 0.6,
});
const network = { type: 'mlp' as const, sizes: [6, 8, 2] };
const subset = (positive: number[]) => ({ kind: 'class-subset' as const, numClasses: 4, positive });

async function trained(positive: number[], seed: number): Promise<StateDict[]> {
  const r = await harvestRun({
    network,
    seed,
    epochs: 10,
    lr: 0.05,
    checkpoints: 2,
    dataset: taskDataset(data, subset(positive)),
  });
  return r.checkpoints.map((c) => c.stateDict);
}

useBackend();
const dir = useTempDir('rpg-task-report-');
let report: TaskReport;

describe('per-task evaluation', () => {
  it('scores each task’s models on that task’s labels', async () => {
    const a = await trained([0, 1], 0);
    const b = await trained([2], 1);
    const other = await trained([1, 3], 2);
    report = await evaluateTasks({
      spec: network,
      dataset: data,
      tasks: [
        {
          task: subset([0, 1]),
          split: 'unseen',
          originals: a,
          generated: [a[1]!, other[0]!],
          ablation: other,
        },
        { task: subset([2]), split: 'seen', originals: b, generated: b, ablation: other },
      ],
      title: 'toy tasks',
    });
    const [ua, sb] = report.tasks as [TaskRow, TaskRow];
    const labels = taskDataset(data, subset([0, 1])).test.y;
    const acc = (sd: StateDict) => percentCorrect(predict(network, sd, data.test.x, data.test.n), labels);
    expect(ua.original.all).toEqual(a.map(acc));
    expect(ua.generated.all).toEqual([acc(a[1]!), acc(other[0]!)]);
    expect(ua.original.avg).toBeGreaterThan(90);
    expect(ua.ratio).toBeCloseTo(ua.generated.avg / ua.original.avg, 12);
    expect(ua.chance).toBe(
      (100 * Math.max(...[0, 1].map((v) => labels.filter((y) => y === v).length))) / labels.length,
    );
    expect(sb.generated.all).toEqual(sb.original.all);
    expect(report.summary.unseen).toMatchObject({ tasks: 1, ablationAvg: ua.ablation!.avg });
    expect(report.summary.seen?.ratio).toBe(1);
    expect(parseTaskReport(JSON.parse(JSON.stringify(report)))).toEqual(report);
  });

  it('refuses a task listed twice or without models', async () => {
    const a = await trained([0], 0);
    const t = { task: subset([0]), split: 'unseen' as const, originals: a, generated: a };
    await expect(evaluateTasks({ spec: network, dataset: data, tasks: [t, t] })).rejects.toThrow(
      /tasks\[1\]: unseen task subset-1000 is listed twice/,
    );
    await expect(
      evaluateTasks({ spec: network, dataset: data, tasks: [{ ...t, generated: [] }] }),
    ).rejects.toThrow(/tasks\[0\] \(subset-1000\) has no generated model/);
  });
});

describe('per-task evaluation of non-finite models', () => {
  it('leaves a NaN model out with a note, and refuses a task with nothing finite to score', async () => {
    const a = await trained([0], 0);
    const nan = new Map(a[0]!);
    const w = nan.get('0.weight')!;
    nan.set('0.weight', { ...w, data: new Float32Array(w.data as Float32Array).fill(Number.NaN) });
    const t = { task: subset([0]), split: 'unseen' as const, originals: a };
    const r = await evaluateTasks({
      spec: network,
      dataset: data,
      tasks: [{ ...t, generated: [nan, a[1]!] }],
    });
    expect(r.tasks[0]!.generated.count).toBe(1);
    expect(r.notes).toEqual([
      'unseen task subset-1000: 1 of 2 generated models have non-finite parameters (NaN/Inf), not scored',
    ]);
    await expect(
      evaluateTasks({ spec: network, dataset: data, tasks: [{ ...t, generated: [nan] }] }),
    ).rejects.toThrow(
      'unseen task subset-1000: 1 of 1 generated models have non-finite parameters (NaN/Inf in "0.weight" (48 values)): nothing to score',
    );
    await expect(
      evaluateTasks({
        spec: network,
        dataset: data,
        tasks: [{ ...t, originals: [a[0]!, nan], generated: a }],
      }),
    ).rejects.toThrow('unseen task subset-1000: 1 of 2 originals have non-finite parameters');
  });
});

describe('split summaries', () => {
  const row = (original: number[], generated: number[], chance: number, ablation?: number[]): TaskRow => ({
    id: 'x',
    task: subset([0]),
    split: 'unseen',
    chance,
    original: modelStats(original),
    generated: modelStats(generated),
    ...(ablation ? { ablation: modelStats(ablation) } : {}),
    ratio: 0,
  });

  it('averages over tasks, each task weighing the same', () => {
    const s = summarizeSplit([row([90, 92], [80, 90, 88], 60, [50]), row([96], [96], 70, [60])])!;
    expect(s.originalAvg).toBeCloseTo((91 + 96) / 2, 12);
    expect(s.generatedAvg).toBeCloseTo((86 + 96) / 2, 12);
    expect(s.generatedBest).toBeCloseTo((90 + 96) / 2, 12);
    expect(s.generatedWorstTask).toBeCloseTo(86, 12);
    expect(s.ratio).toBeCloseTo(91 / 93.5, 12);
    expect(s.chanceAvg).toBe(65);
    expect(s.ablationAvg).toBe(55);
    expect(summarizeSplit([])).toBeUndefined();
  });

  it('leaves the ablation out unless every task has it', () => {
    const s = summarizeSplit([row([90], [80], 60, [50]), row([96], [96], 70)])!;
    expect(s.ablationAvg).toBeUndefined();
  });
});

describe('per-task report page', () => {
  it('has a summary, the per-task table and the plot', async () => {
    const html = renderTaskReportHtml(report);
    expect(html).toContain('<h1>toy tasks</h1>');
    expect(html).toContain('1100 {0,1}');
    expect(html).toContain('0010 {2}');
    expect(html.match(/<svg/g)).toHaveLength(1);
    expect(html).toContain('generated = 93% of trained');
    expect(html).not.toMatch(/<script|<link|@import|url\(|src=/i);
  });

  it('renders in headless Chromium', async () => {
    const chromium = requireChromium();
    const { html, json } = await writeTaskReport(dir(), report);
    expect(parseTaskReport(JSON.parse(await readFile(json, 'utf8'))).tasks).toHaveLength(2);
    const { bytes } = await renderToPng(html, join(dir(), 'report.png'), {
      chromium,
      width: 1100,
      height: 1400,
    });
    expect(bytes).toBeGreaterThan(30_000);
  });
});
