#!/usr/bin/env node
// Makes @tensorflow/tfjs-node usable without access to its download host.
//
// Route 1 (normal): tfjs-node's own install script downloads libtensorflow and a prebuilt binding.
// Route 2 (offline): take libtensorflow from the `tensorflow-cpu` wheel on PyPI, place it in tfjs-node's
// `deps/`, and build the native binding from source with node-gyp.
// Idempotent: when the binding already loads and runs, nothing is done.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBinding, buildEnv, placeLibraries } from './tfjs-native.mjs';

const TF_WHEEL = 'tensorflow-cpu==2.21.0';
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cacheDir = join(repoRoot, 'infra', '.cache');
const corePkg = join(repoRoot, 'packages', 'core', 'package.json');
const requireFromCore = createRequire(corePkg);

const log = (msg) => console.log(`[setup-tfjs-node] ${msg}`);

function fail(msg) {
  console.error(`[setup-tfjs-node] ERROR: ${msg}`);
  process.exit(1);
}

function tfjsNodeDir() {
  try {
    return dirname(requireFromCore.resolve('@tensorflow/tfjs-node/package.json'));
  } catch {
    fail('@tensorflow/tfjs-node is not installed. Run `pnpm install` first (infra/setup.sh does).');
  }
}

/** Loads tfjs-node in a child process and runs a matmul; returns the error text or null when it works. */
function probe() {
  const code = `
    const tf = require('@tensorflow/tfjs-node');
    const y = tf.matMul(tf.ones([2, 3]), tf.ones([3, 2])).dataSync();
    if (tf.getBackend() !== 'tensorflow' || y[0] !== 3) throw new Error('unexpected result ' + y[0]);
    console.log('tf ' + tf.version.tfjs + ' backend ' + tf.getBackend());`;
  const r = spawnSync(process.execPath, ['-e', code], { cwd: dirname(corePkg), encoding: 'utf8' });
  if (r.status === 0) return null;
  const lines = (r.stderr || '').split('\n').filter((l) => l && !/oneDNN|cpu_feature_guard|port\.cc/.test(l));
  return lines.slice(-4).join('\n') || `exit code ${r.status}`;
}

function tryNormalInstall(dir) {
  if (process.env.RPG_TFJS_OFFLINE === '1') return false;
  log('trying the normal install (downloads libtensorflow from storage.googleapis.com)...');
  const r = spawnSync(process.execPath, ['scripts/install.js'], {
    cwd: dir,
    env: buildEnv(),
    encoding: 'utf8',
    timeout: 10 * 60_000,
  });
  if (r.status === 0 && probe() === null) return true;
  const why = `${r.stderr || ''}${r.stdout || ''}`.trim().split('\n').slice(-2).join(' | ');
  log(`normal install did not work (${why || `exit ${r.status}`}); using the ${TF_WHEEL} wheel instead`);
  return false;
}

function python() {
  for (const candidate of [process.env.PYTHON, 'python3', 'python']) {
    if (candidate && spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  fail('python3 is needed to fetch the tensorflow-cpu wheel from PyPI; install Python 3.9-3.13.');
}

function fetchWheel(py) {
  const wheelDir = join(cacheDir, 'wheels');
  const find = () =>
    readdirSync(wheelDir).find((f) => f.startsWith('tensorflow_cpu-2.21.0') && f.endsWith('.whl'));
  mkdirSync(wheelDir, { recursive: true });
  let wheel = find();
  if (!wheel) {
    log(`downloading ${TF_WHEEL} from PyPI (about 275 MB)...`);
    const r = spawnSync(
      py,
      ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '-d', wheelDir, TF_WHEEL],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    wheel = find();
    if (r.status !== 0 || !wheel) {
      fail(
        `could not download ${TF_WHEEL} with pip (exit ${r.status}). Neither route to libtensorflow works: ` +
          'the normal install cannot reach storage.googleapis.com and PyPI is not reachable either. ' +
          `Put a ${TF_WHEEL} wheel for this Python into ${wheelDir} and run this again.`,
      );
    }
  }
  return join(wheelDir, wheel);
}

function buildNativeBinding(dir) {
  if (!buildEnv().npm_config_nodedir) {
    log('no local Node headers found (include/node/node_api.h); node-gyp will try to download them');
  }
  log('building the native binding with node-gyp (about a minute)...');
  buildBinding(dir, 'tfjs-node', fail);
}

function main() {
  const dir = tfjsNodeDir();
  const before = probe();
  if (before === null) {
    log('tfjs-node native backend is ready');
    return;
  }
  if (!tryNormalInstall(dir)) {
    const py = python();
    log('extracting libtensorflow from the wheel...');
    placeLibraries(py, dir, fetchWheel(py), [], fail);
    buildNativeBinding(dir);
  }
  const after = probe();
  if (after !== null) fail(`tfjs-node still does not load after the build:\n${after}`);
  log('tfjs-node native backend is ready (built against libtensorflow from the tensorflow-cpu wheel)');
}

main();
