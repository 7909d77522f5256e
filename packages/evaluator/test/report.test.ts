import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildReport, lossCurve } from '../src/report-build.js';
import {
  accuracyRange,
  downsampleLoss,
  noveltyReading,
  renderReportHtml,
  writeReport,
} from '../src/report-html.js';
import { parseReport, reportSchema } from '../src/report-schema.js';
import { sampleReport } from './sample-report.js';

const set = (...xs: number[]) => Int32Array.from(xs);

describe('buildReport', () => {
  // 10 test samples. Originals miss {1,2} and {2,3}; generated miss {1,2}, {5,6,7,8}.
  const report = buildReport({
    datasetName: 'hand',
    testSize: 10,
    origMisses: [set(1, 2), set(2, 3)],
    genMisses: [set(1, 2), set(5, 6, 7, 8)],
    noise: [],
    nearestOriginal: [
      { index: 0, original: 0, distance: 0 },
      { index: 1, original: 1, distance: 2.5 },
    ],
    originalSpacing: [1, 3],
    trainingLoss: [
      { step: 10, loss: 1 },
      { step: 20, loss: Number.NaN },
      { step: 30, loss: 0.5 },
      { step: 0, loss: 2 },
    ],
    stageSeconds: { train: 4, generate: 1 },
    title: 'Hand-made',
    notes: ['a note'],
  });

  it('computes accuracies, IoUs and the stats by hand', () => {
    expect(report.originals).toMatchObject({
      max: 80,
      avg: 80,
      min: 80,
      all: [80, 80],
      maxIouToOther: [1 / 3, 1 / 3],
    });
    expect(report.generated).toMatchObject({ best: 80, avg: 70, min: 60, count: 2, all: [80, 60] });
    expect(report.iou.originalOriginal).toBeCloseTo(1 / 3, 12);
    expect(report.iou.generatedGenerated).toBe(0);
    expect(report.iou.perModel).toEqual([
      { index: 0, maxIouToOriginal: 1, closestOriginal: 0 },
      { index: 1, maxIouToOriginal: 0, closestOriginal: 0 },
    ]);
    expect(report.iou.generatedMaxToOriginal).toBe(0.5);
    expect(report.originalSpacing).toEqual({ min: 1, avg: 2, max: 3 });
    expect(report.suspicious).toBe(false);
    // the loss curve keeps its steps, drops non-finite points and is sorted by step
    expect(report.trainingLoss).toEqual([
      { step: 0, loss: 2 },
      { step: 10, loss: 1 },
      { step: 30, loss: 0.5 },
    ]);
    expect(report.stageSeconds).toEqual({ train: 4, generate: 1 });
    expect(report).toMatchObject({ title: 'Hand-made', notes: ['a note'] });
  });

  it('turns a per-step loss list into a curve', () => {
    expect(lossCurve([0.9, null, Number.POSITIVE_INFINITY, 0.4], 5)).toEqual([
      { step: 5, loss: 0.9 },
      { step: 8, loss: 0.4 },
    ]);
  });

  it('flags a generated model that beats the best original by more than the margin', () => {
    const parts = {
      datasetName: 'hand',
      testSize: 1000,
      origMisses: [set(...Array.from({ length: 100 }, (_, i) => i))], // 90.0%
      noise: [],
      nearestOriginal: [{ index: 0, original: 0, distance: 1 }],
      originalSpacing: null,
    };
    const within = buildReport({ ...parts, genMisses: [set(...Array.from({ length: 95 }, (_, i) => i))] }); // 90.5
    expect(within.suspicious).toBe(false);
    const beyond = buildReport({ ...parts, genMisses: [set(...Array.from({ length: 94 }, (_, i) => i))] }); // 90.6
    expect(beyond.suspicious).toBe(true);
    expect(beyond.originals.maxIouToOther).toBeNull();
    expect(beyond.iou.originalOriginal).toBeNull();
    expect(renderReportHtml(beyond)).toContain('Suspicious');
    expect(renderReportHtml(within)).not.toContain('Suspicious');
  });
});

describe('reportSchema', () => {
  it('accepts a full report and its JSON round trip', () => {
    const r = sampleReport();
    expect(reportSchema.safeParse(r).success).toBe(true);
    expect(parseReport(JSON.parse(JSON.stringify(r)))).toEqual(r);
    expect(r.trainingLoss).toHaveLength(1500);
  });
  it('rejects bad fields with a message naming them', () => {
    const r = JSON.parse(JSON.stringify(sampleReport()));
    r.generated.best = 140;
    expect(() => parseReport(r)).toThrow(/generated\.best/);
    const s = JSON.parse(JSON.stringify(sampleReport()));
    s.iou.generatedMaxToOriginal = 1.5;
    expect(() => parseReport(s)).toThrow(/iou\.generatedMaxToOriginal/);
    expect(() => parseReport({})).toThrow(/not a valid RPG evaluation report/);
    const t = JSON.parse(JSON.stringify(sampleReport()));
    t.trainingLoss = [
      { step: 2, loss: 1 },
      { step: 1, loss: 1 },
    ];
    expect(() => parseReport(t)).toThrow(/trainingLoss: steps must be ascending/);
  });
});

describe('renderReportHtml', () => {
  const report = sampleReport();
  const html = renderReportHtml(report);

  it('shows the summary numbers', () => {
    const g = report.generated;
    const o = report.originals;
    for (const v of [g.best, g.avg, g.min, o.max, o.avg, o.min]) expect(html).toContain(v.toFixed(2));
    for (const n of report.noise) {
      expect(html).toContain(`σ=${n.sigma}`);
      expect(html).toContain(n.accuracy.avg.toFixed(2));
      expect(html).toContain(n.maxIouToOriginal.toFixed(3));
    }
    expect(html).toContain(report.iou.generatedMaxToOriginal.toFixed(3));
    expect(html).toContain(report.iou.originalOriginal!.toFixed(3));
  });

  it('has one <svg> per plot (strip, frontier, loss) and drops the loss plot without history', () => {
    expect(html.match(/<svg /g)).toHaveLength(3);
    expect(html).toContain('Training loss');
    const { trainingLoss: _, ...noLoss } = report;
    const h2 = renderReportHtml(noLoss);
    expect(h2.match(/<svg /g)).toHaveLength(2);
    expect(h2).not.toContain('Training loss');
    // one marker per model (its <title> carries the value); the strip plot counts clipped ones instead
    const [, strip, frontier] = html.split('<svg ') as [string, string, string];
    const count = (s: string, what: string) => s.split(what).length - 1;
    const clipped = report.generated.all.filter((a) => a < accuracyRange(report).lo - 1e-9).length;
    expect(clipped).toBe(2);
    expect(count(strip, '<title>generated #')).toBe(report.generated.count - clipped);
    expect(strip).toContain(`◀ ${clipped} below`);
    expect(count(strip, '<title>originals #')).toBe(report.originals.count);
    expect(count(frontier, '<title>generated #')).toBe(report.generated.count);
    expect(count(frontier, '(below axis)')).toBe(clipped);
    expect(count(frontier, '<title>noise σ=0.05 #')).toBe(report.noise[2]!.all.length);
  });

  it('shows the title, notes, stage times and the loss curve’s last point', () => {
    const r = { ...report, title: 'MNIST <MLP>', notes: ['originals record data set x & y'] };
    const h = renderReportHtml(r);
    expect(h).toContain('<h1>MNIST &lt;MLP&gt;</h1>');
    expect(h).toContain('<li>originals record data set x &amp; y</li>');
    expect(html).toContain('<h1>RPG evaluation report</h1>');
    expect(html).not.toContain('Notes:');
    // stage table: every stage with its share, and the total (95.2 + 1.4 + 402.5 + 33.1 + 12.3 = 544.5 s)
    expect(html).toContain('<tr><th>train</th><td>6.7 min</td><td>74%</td></tr>');
    expect(html).toContain('<tr><th>total</th><td>9.1 min</td>');
    const last = report.trainingLoss!.at(-1)!;
    expect(html).toContain(`Final loss ${last.loss.toPrecision(4)} at step 1500`);
  });

  it('is self-contained: no scripts, no external URLs', () => {
    expect(html).not.toMatch(/<script|<link|@import|url\(|src=/i);
    const withoutNs = html.replaceAll('xmlns="http://www.w3.org/2000/svg"', '');
    expect(withoutNs).not.toContain('http');
    expect(withoutNs).not.toContain('//');
  });

  it('escapes text from the report', () => {
    const r = {
      ...report,
      dataset: { ...report.dataset, name: '<b>"x"&</b>' },
      config: { note: '</pre><script>' },
    };
    const h = renderReportHtml(r);
    expect(h).toContain('&lt;b&gt;&quot;x&quot;&amp;&lt;/b&gt;');
    expect(h).not.toContain('<script>');
  });

  it('places the novelty between noise baselines', () => {
    const base = sampleReport();
    const at = (v: number) => noveltyReading({ ...base, iou: { ...base.iou, generatedMaxToOriginal: v } });
    const [n1, n3, n5] = base.noise.map((n) => n.maxIouToOriginal) as [number, number, number];
    expect(at(Math.min(1, n1 + 0.001))).toMatch(/near copies/);
    expect(at((n1 + n3) / 2)).toMatch(/between σ=0.01 .* and σ=0.03/);
    expect(at(n5 - 0.01)).toMatch(/below σ=0.05/);
  });

  it('clips far outliers off the accuracy axis and downsamples long loss histories', () => {
    const r = sampleReport({ broken: 2 });
    expect(r.generated.min).toBeLessThan(80);
    const { lo, hi } = accuracyRange(r);
    expect(lo).toBeCloseTo(r.originals.min - 5, 9);
    expect(hi).toBe(Math.max(r.generated.best, r.originals.max, ...r.noise.map((n) => n.accuracy.max)));
    const pts = downsampleLoss(
      Array.from({ length: 30_000 }, (_, i) => ({ step: 2 * i, loss: 1 / (i + 1) })),
    );
    expect(pts).toHaveLength(600);
    expect(pts[0]).toEqual({ step: 49, loss: expect.any(Number) }); // mean of steps 0, 2, …, 98
    expect(pts[0]!.loss).toBeGreaterThan(pts[599]!.loss);
    expect(
      downsampleLoss([
        { step: 1, loss: Number.NaN },
        { step: 2, loss: -1 },
        { step: 3, loss: 2 },
      ]),
    ).toEqual([{ step: 3, loss: 2 }]);
  });
});

describe('writeReport', () => {
  it('writes report.json and report.html that read back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rpg-report-'));
    const r = sampleReport();
    const paths = await writeReport(join(dir, 'out'), r);
    expect(parseReport(JSON.parse(await readFile(paths.json, 'utf8')))).toEqual(r);
    expect(await readFile(paths.html, 'utf8')).toBe(renderReportHtml(r));
  });
});
