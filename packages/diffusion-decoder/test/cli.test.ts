import { execFile, spawn } from 'node:child_process';
import { access, cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, readSafetensorsFile, type StateDict, type TensorEntry, writeSafetensorsFile } from '@rpg/core';
import { fitTokenizer, saveTokenizerState, TOKENS_FILE, tokenize, writeTokens } from '@rpg/tokenizer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrainState } from '../src/generator-files.js';

const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
// The CLI run from source the way bin/cli.mjs runs it (tsx registered, then src/cli.ts imported).
const LAUNCH = ['--import', 'tsx', join(PACKAGE_DIR, 'src', 'cli.ts')];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...LAUNCH, ...args], { cwd: PACKAGE_DIR }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The error report: stderr from the tool's own first line on (tfjs-node's start-up chatter left out). */
function errorText(r: Result): string {
  const at = r.stderr.indexOf('rpg-diffusion-decoder');
  return at < 0 ? '' : r.stderr.slice(at);
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** A tiny network: two Linear layers and a BatchNorm counter (an I64 scalar: copied, not generated). */
function checkpoint(rng: Rng): StateDict {
  const f32 = (shape: number[], std: number): TensorEntry => ({
    dtype: 'F32',
    shape,
    data: Float32Array.from(
      rng.normalArray(
        shape.reduce((a, b) => a * b, 1),
        0,
        std,
      ),
    ),
  });
  return new Map<string, TensorEntry>([
    ['fc1.weight', f32([6, 5], 0.3)],
    ['fc1.bias', f32([6], 0.1)],
    ['bn.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.from([42n]) }],
    ['fc2.weight', f32([3, 6], 0.3)],
    ['fc2.bias', f32([3], 0.1)],
  ]);
}

let root = '';
let tok = ''; // tokenizer dir, checkpoints named run00-ckpt000, run01-ckpt001, ...
let tokNoRuns = ''; // same checkpoints, names without runs
const checkpoints: StateDict[] = [];

/** Options for a tiny, fast generator. */
const TINY = ['--d', '16', '--channels', '1,8,1', '--batch-size', '2', '--diffusion-batch', '16'];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rpg-dd-cli-'));
  const rng = new Rng(11);
  for (let i = 0; i < 4; i++) checkpoints.push(checkpoint(rng));
  const state = fitTokenizer(checkpoints, { tokenSize: 16 });
  const tokens = checkpoints.map((c) => tokenize(state, c));
  tok = join(root, 'tok');
  await saveTokenizerState(tok, state);
  await writeTokens(join(tok, TOKENS_FILE), tokens, state, {
    names: checkpoints.map((_, i) => `run0${i % 2}-ckpt00${i}`),
  });
  tokNoRuns = join(root, 'tok-no-runs');
  await saveTokenizerState(tokNoRuns, state);
  await writeTokens(join(tokNoRuns, TOKENS_FILE), tokens, state, {
    names: checkpoints.map((_, i) => `ckpt-${i}`),
  });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('rpg-diffusion-decoder CLI', () => {
  it('--help exits 0 and lists the commands; each command has its own --help', async () => {
    const [tool, train, generate, inspect] = await Promise.all([
      cli('--help'),
      cli('train', '--help'),
      cli('generate', '--help'),
      cli('inspect', '--help'),
    ]);
    for (const r of [tool, train, generate, inspect]) expect(r.code).toBe(0);
    for (const command of ['train', 'generate', 'inspect']) expect(tool.stdout).toContain(`${command} `);
    for (const flag of [
      '--tokens',
      '--resume-dir',
      '--checkpoint-every',
      '--states',
      '--channels',
      '--model',
    ])
      expect(train.stdout).toContain(flag);
    for (const flag of ['--generator', '--count', '--sampler', '--eta', '--chunk-size', '--clip'])
      expect(generate.stdout).toContain(flag);
    expect(inspect.stdout).toContain('inspect <generator dir>');
  });

  it('bad arguments exit 1 with an error that names the argument', async () => {
    const out = join(root, 'never');
    const cases: [string[], RegExp][] = [
      [['train', '--tokens', tok, '--out', out, '--lr', 'abc'], /--lr must be a positive number, got "abc"/],
      [['train', '--tokens', tok, '--out', out, '--steps', '0'], /--steps must be a positive integer/],
      [['train', '--tokens', tok], /--out <dir> is required/],
      [['train', '--tokens', tok, '--out', out, '--model', 'gru'], /--model must be one of mamba2, lstm/],
      [['train', '--tokens', tok, '--out', out, '--frobnicate', '1'], /--frobnicate/],
      [['train', '--tokens', tok, '--out', out, '--channels', '1,8,4,1'], /--channels: .*symmetric/],
      [
        ['train', '--tokens', tok, '--out', out, '--checkpoint-every', '2'],
        /--checkpoint-every needs --resume-dir/,
      ],
      [['train', '--tokens', tokNoRuns, '--out', out, '--states', 'run'], /--states run: cannot tell/],
      [
        ['generate', '--generator', tok, '--tokens', tok, '--out', out, '--sampler', 'ddpm', '--steps', '5'],
        /--steps applies to --sampler ddim only/,
      ],
      [
        ['generate', '--generator', tok, '--tokens', tok, '--out', out, '--count=-2'],
        /--count must be a positive integer, got "-2"/,
      ],
      [
        ['generate', '--generator', tok, '--tokens', tok, '--out', out, '--count', '-2'],
        /'--count' argument is ambiguous[\s\S]*use '--count=-XYZ'/,
      ],
      [['inspect'], /inspect needs exactly one generator directory/],
      [['frobnicate'], /unknown command "frobnicate"/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(...args)));
    results.forEach((r, i) => {
      const [args, pattern] = cases[i]!;
      expect(r.code, args.join(' ')).toBe(1);
      expect(errorText(r), args.join(' ')).toMatch(pattern);
      expect(errorText(r)).toMatch(/Run "rpg-diffusion-decoder .*--help" for usage/);
    });
    expect(await exists(out)).toBe(false);
  });

  it('train → inspect → generate: loadable safetensors with the original tensor names, shapes and dtypes', async () => {
    const gen = join(root, 'gen');
    const t = await cli('train', '--tokens', tok, '--out', gen, ...TINY, '--steps', '5', '--states', 'run');
    expect(t.stderr).not.toContain('error:');
    expect(t.code).toBe(0);
    expect(t.stdout).toContain('training on 4 checkpoints: L = ');
    expect(t.stdout).toContain('2 permutation states (one per run)');
    expect(t.stdout).toContain('trained steps 1..5');
    expect((await readdir(gen)).sort()).toEqual(['generator.json', 'generator.safetensors', 'training.json']);

    const i = await cli('inspect', gen);
    expect(i.code).toBe(0);
    expect(i.stdout).toContain('recurrent model: mamba2, d 16, layers 2, position 2d');
    expect(i.stdout).toContain('decoder: token size 16, channels 1,8,1, kernel 7');
    expect(i.stdout).toContain('permutation states: 2');
    expect(i.stdout).toContain('steps trained: 5');
    expect(i.stdout).toMatch(/parameters: [\d,]+ \(recurrent model [\d,]+, decoder [\d,]+\)/);
    expect(i.stdout).toMatch(/last loss: \d+\.\d+/);
    expect(i.stdout).toContain('weights: all finite');

    const out = join(root, 'generated');
    const g = await cli('generate', '--generator', gen, '--tokens', tok, '--out', out, '--count', '3');
    expect(g.stderr).not.toContain('error:');
    expect(g.code).toBe(0);
    expect(g.stdout).toMatch(/gen-000\.safetensors {2}permutation state [01]\n/);
    expect((await readdir(out)).sort()).toEqual([
      'gen-000.safetensors',
      'gen-001.safetensors',
      'gen-002.safetensors',
    ]);
    expect((await readdir(root)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    const original = checkpoints[0]!;
    for (const file of await readdir(out)) {
      const { tensors } = await readSafetensorsFile(join(out, file));
      expect([...tensors.keys()]).toEqual([...original.keys()]);
      for (const [name, entry] of original) {
        const got = tensors.get(name)!;
        expect(got.dtype, name).toBe(entry.dtype);
        expect(got.shape, name).toEqual(entry.shape);
        if (entry.dtype === 'F32')
          expect(
            [...got.data].every((v) => Number.isFinite(v)),
            name,
          ).toBe(true);
      }
      expect([...tensors.get('bn.num_batches_tracked')!.data]).toEqual([42n]); // copied
    }
    // The models differ from each other (each is sampled with its own noise).
    const a = (await readSafetensorsFile(join(out, 'gen-000.safetensors'))).tensors.get('fc1.weight')!.data;
    const b = (await readSafetensorsFile(join(out, 'gen-001.safetensors'))).tensors.get('fc1.weight')!.data;
    expect([...a]).not.toEqual([...b]);

    // A non-empty --out is refused, and left as it was.
    const again = await cli('generate', '--generator', gen, '--tokens', tok, '--out', out, '--count', '1');
    expect(again.code).toBe(1);
    expect(errorText(again)).toMatch(/is not empty.*give a new or empty directory/);
    expect((await readdir(out)).length).toBe(3);

    // A generator whose weights went NaN: inspect says so and fails, generate refuses and writes nothing.
    const broken = join(root, 'gen-nan');
    await cp(gen, broken, { recursive: true });
    const weights = await readSafetensorsFile(join(broken, 'generator.safetensors'));
    const name = [...weights.tensors.keys()].find((n) => n.startsWith('decoder.convs.0'))!;
    const entry = weights.tensors.get(name)!;
    weights.tensors.set(name, { ...entry, data: (entry.data as Float32Array).map(() => Number.NaN) });
    await writeSafetensorsFile(join(broken, 'generator.safetensors'), weights.tensors, weights.metadata);
    const bad = await cli('inspect', broken);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('weights: NOT FINITE in 1 tensors');
    expect(errorText(bad)).toMatch(/weights hold NaN or infinite values \(decoder\.convs\.0/);
    const nanOut = join(root, 'generated-nan');
    const refused = await cli(
      'generate',
      '--generator',
      broken,
      '--tokens',
      tok,
      '--out',
      nanOut,
      '--count',
      '1',
    );
    expect(refused.code).toBe(1);
    expect(errorText(refused)).toMatch(/weights are not finite/);
    await expect(access(nanOut)).rejects.toThrow();
  });

  it('resumes from the state in --resume-dir and refuses one saved with other options', async () => {
    const resumeDir = join(root, 'resume');
    const first = await cli(
      'train',
      '--tokens',
      tok,
      '--out',
      join(root, 'gen4'),
      ...TINY,
      '--steps',
      '4',
      '--resume-dir',
      resumeDir,
      '--checkpoint-every',
      '2',
    );
    expect(first.code).toBe(0);
    expect(first.stdout).not.toContain('resumed');
    expect((await readdir(resumeDir)).sort()).toEqual(['run.json', 'step-00000004']);
    expect((await loadTrainState(join(resumeDir, 'step-00000004'))).step).toBe(4);

    const second = await cli(
      'train',
      '--tokens',
      tok,
      '--out',
      join(root, 'gen6'),
      ...TINY,
      '--steps',
      '6',
      '--resume-dir',
      resumeDir,
      '--checkpoint-every',
      '2',
    );
    expect(second.stderr).not.toContain('error:');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('resumed from step 4');
    expect(second.stdout).toContain('trained steps 5..6');
    expect((await readdir(resumeDir)).sort()).toEqual(['run.json', 'step-00000006']);
    const generator = JSON.parse(await readFile(join(root, 'gen6', 'generator.json'), 'utf8'));
    expect(generator.lossHistory).toHaveLength(6);
    // The first 4 losses are those of the first run.
    const firstRun = JSON.parse(await readFile(join(root, 'gen4', 'generator.json'), 'utf8'));
    expect(generator.lossHistory.slice(0, 4)).toEqual(firstRun.lossHistory);

    const other = await cli(
      'train',
      '--tokens',
      tok,
      '--out',
      join(root, 'gen-other'),
      ...TINY,
      '--lr',
      '0.01',
      '--steps',
      '8',
      '--resume-dir',
      resumeDir,
    );
    expect(other.code).toBe(1);
    expect(errorText(other)).toMatch(/--resume-dir .* holds a run with different --lr/);
    expect(await exists(join(root, 'gen-other'))).toBe(false);
  });

  it('Ctrl-C stops training after a step, keeps the last resume state and writes no generator', async () => {
    const resumeDir = join(root, 'resume-sigint');
    const out = join(root, 'gen-sigint');
    const child = spawn(
      process.execPath,
      [...LAUNCH, 'train', '--tokens', tok, '--out', out, ...TINY, '--steps', '100000'].concat([
        '--resume-dir',
        resumeDir,
        '--checkpoint-every',
        '3',
      ]),
      { cwd: PACKAGE_DIR },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Wait for the first resume state, then interrupt.
    const deadline = Date.now() + 40_000;
    while (!(await readdir(resumeDir).catch(() => [] as string[])).some((n) => /^step-\d+$/.test(n))) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`no resume state appeared; stderr:\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/training interrupted; the latest resume state is .*step-\d+ \(step \d+\)/);
    const steps = (await readdir(resumeDir)).filter((n) => /^step-\d+$/.test(n));
    expect(steps).toHaveLength(1);
    const state = await loadTrainState(join(resumeDir, steps[0]!));
    expect(state.step % 3).toBe(0);
    expect(state.lossHistory).toHaveLength(state.step);
    expect(await exists(out)).toBe(false);
    expect((await readdir(root)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});
