#!/usr/bin/env node
// On a machine with an NVIDIA GPU (after `pnpm setup:gpu`): prints the device, checks that tfjs-node-gpu puts
// its work on it, runs `pnpm bench:backend` (node-gpu beside node), one training-step benchmark case and one
// short pipeline on the node-gpu backend, and exits non-zero if any of them did not use the GPU. A process used
// the GPU when libtensorflow logged creating a GPU device in it (TF_CPP_MIN_LOG_LEVEL=0).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HELP = `pnpm check:gpu [--cpu-dry-run]
  On a machine with an NVIDIA GPU and tfjs-node-gpu installed (pnpm setup:gpu): prints the GPU, then runs
  bench:backend, the training-step cases of bench:step (the MNIST MLP example's step, mamba2) and
  bench:sequence (mamba2, L 1024), bench:step beside PyTorch when PyTorch is installed, and a short MNIST
  pipeline on the node-gpu backend; exits 1 unless every one of them ran on the GPU.
  --cpu-dry-run  run the same steps on the CPU backend (node) without the GPU checks, to test this script`;
const { values: args } = parseArgs({
  options: {
    'cpu-dry-run': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const dry = args['cpu-dry-run'];
const backend = dry ? 'node' : 'node-gpu';
const env = {
  ...process.env,
  RPG_BACKEND: backend,
  TF_CPP_MIN_LOG_LEVEL: '0',
  // Take GPU memory as needed rather than all of it at start (other processes may share the device).
  TF_FORCE_GPU_ALLOW_GROWTH: 'true',
};
const failures = [];
const say = (line) => console.log(`[check-gpu] ${line}`);

/** Runs a command with the node-gpu environment; returns its output and whether a GPU device was created. */
function run(what, cmd, cmdArgs, opts = {}) {
  say(`${what}: ${cmd} ${cmdArgs.join(' ')}`);
  const t0 = Date.now();
  const r = spawnSync(cmd, cmdArgs, {
    cwd: repoRoot,
    env,
    encoding: 'utf8',
    maxBuffer: 256 * 2 ** 20,
    ...opts,
  });
  const stderr = r.stderr ?? '';
  const device = stderr.split('\n').find((l) => /Created device .*device:GPU:\d/.test(l));
  const seconds = ((Date.now() - t0) / 1000).toFixed(0);
  if (r.status !== 0) {
    failures.push(`${what} failed (exit ${r.status ?? r.signal})`);
    const tail = stderr.split('\n').filter((l) => /Error|error/.test(l));
    say(`${what} FAILED after ${seconds} s: ${tail.slice(-3).join(' | ') || `exit ${r.status}`}`);
  } else if (!dry && !device) {
    failures.push(`${what} did not use the GPU`);
    say(`${what}: no GPU device was created in this process; it ran on the CPU`);
  } else say(`${what}: done in ${seconds} s${device ? ' on the GPU' : ''}`);
  return { stdout: r.stdout ?? '', device };
}

const lastJson = (stdout) =>
  stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop() ?? '';

// 1. The device.
const smi = spawnSync('nvidia-smi', [
  '--query-gpu=name,memory.total,driver_version',
  '--format=csv,noheader',
]);
if (smi.status === 0) say(`GPU: ${smi.stdout.toString().trim()}`);
else if (!dry) {
  say('nvidia-smi not found or no GPU: this script checks a machine with an NVIDIA GPU');
  process.exit(1);
}

// 2. The backend loads as node-gpu and libtensorflow creates a GPU device for its first op.
const probe = run(
  'backend probe',
  process.execPath,
  [
    '--import',
    'tsx',
    '-e',
    `const { loadBackend, tf } = await import('./src/index.ts');
   const b = await loadBackend();
   const y = tf.matMul(tf.ones([512, 512]), tf.ones([512, 512])).dataSync()[0];
   if (b.choice !== '${backend}' || y !== 512) throw new Error('backend ' + b.choice + ', matmul ' + y);
   console.log('backend ' + b.choice);`,
  ],
  { cwd: join(repoRoot, 'packages', 'core') },
);
if (probe.device) say(`libtensorflow: ${probe.device.replace(/^.*Created device /, '')}`);

// 3. bench:backend, node-gpu beside node (each in its own process), with the numpy limit.
const bench = spawnSync('pnpm', ['-s', 'bench:backend', '--backends', dry ? 'node' : 'node-gpu,node'], {
  cwd: repoRoot,
  env,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
});
process.stdout.write(bench.stdout ?? '');
const backendJson = lastJson(bench.stdout ?? '');
if (bench.status !== 0 || !backendJson.includes(`"${backend}"`))
  failures.push(`bench:backend did not measure ${backend}`);

// 4. Training steps (their child processes directly, so that each log shows the device): the MNIST MLP
// example's step (bench:step's case) and a long sequence (bench:sequence's mamba2 at L 1024).
for (const [what, script, childArgs] of [
  ['training step (bench:step, mamba2)', 'bench/step.ts', ['--child', 'mamba2', '--steps', '5']],
  [
    'training step (bench:sequence, mamba2, L 1024)',
    'bench/sequence-length.ts',
    ['--child', 'mamba2:1024', '--steps', '5'],
  ],
]) {
  const step = run(what, process.execPath, ['--import', 'tsx', script, ...childArgs], {
    cwd: join(repoRoot, 'packages', 'diffusion-decoder'),
  });
  const stepJson = lastJson(step.stdout);
  if (stepJson) say(`${what}: ${stepJson}`);
}

// 4b. bench:step in full (ours on node-gpu beside PyTorch) where PyTorch is installed; it is not required here.
const torchStep = spawnSync(
  'pnpm',
  ['-s', 'bench:step', '--no-install', '--rounds', '2', ...(dry ? [] : ['--torch-device', 'cuda'])],
  {
    cwd: repoRoot,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
if (torchStep.status === 0) process.stdout.write(torchStep.stdout ?? '');
else say('bench:step skipped (PyTorch is not installed: pnpm setup:torch adds it)');

// 5. A short pipeline: the MNIST MLP example cut down to a few minutes.
const work = mkdtempSync(join(tmpdir(), 'rpg-check-gpu-'));
try {
  const example = JSON.parse(readFileSync(join(repoRoot, 'examples', 'mnist-mlp.json'), 'utf8'));
  const config = {
    ...example,
    name: 'gpu-check',
    harvest: { ...example.harvest, epochs: 2, checkpoints: 4 },
    train: { ...example.train, steps: 60, checkpointEvery: 30 },
    generate: { ...example.generate, count: 2, steps: 10 },
  };
  const path = join(work, 'gpu-check.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  const pipeline = run('short pipeline', process.execPath, [
    'workflows/bin/rpg.mjs',
    'local',
    path,
    '--store',
    join(work, 'store'),
  ]);
  const report = pipeline.stdout.trim().split('\n').pop();
  if (report) say(`pipeline: ${report}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

if (failures.length) {
  say(`FAILED: ${failures.join('; ')}`);
  process.exit(1);
}
say(dry ? 'dry run on the CPU finished (no GPU checked)' : 'every step ran on the GPU');
