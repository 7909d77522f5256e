// What setup-tfjs-node.mjs (CPU) and setup-tfjs-node-gpu.mjs share: libtensorflow (and, for the GPU build, the
// NVIDIA libraries) taken out of PyPI wheels into a tfjs-node package's deps/, and the node-gyp build of its
// native binding.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const requireFromInfra = createRequire(join(repoRoot, 'infra', 'package.json'));

/** Node headers for node-gyp: a local install's `include/node` avoids a download from nodejs.org. */
function nodeHeadersDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  return undefined;
}

/** The environment of tfjs-node's install script and of node-gyp: the workspace's node-gyp, local headers. */
export function buildEnv() {
  const env = { ...process.env };
  const nodedir = nodeHeadersDir();
  if (nodedir) env.npm_config_nodedir = nodedir;
  env.npm_config_node_gyp = requireFromInfra.resolve('node-gyp/bin/node-gyp.js');
  return env;
}

const EXTRACT = `
import sys, zipfile, os, shutil
deps, tf_wheel, cuda = sys.argv[1], sys.argv[2], sys.argv[3:]
def copy(z, info, out):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with z.open(info) as src, open(out, 'wb') as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
wanted = {'tensorflow/libtensorflow_cc.so.2': 'lib/libtensorflow_cc.so.2',
          'tensorflow/libtensorflow_framework.so.2': 'lib/libtensorflow_framework.so.2'}
with zipfile.ZipFile(tf_wheel) as z:
    for info in z.infolist():
        n = info.filename
        if n in wanted:
            copy(z, info, os.path.join(deps, wanted[n]))
        elif n.startswith('tensorflow/include/') and not n.endswith('/'):
            copy(z, info, os.path.join(deps, 'include', n[len('tensorflow/include/'):]))
missing = [v for v in wanted.values() if not os.path.exists(os.path.join(deps, v))]
if missing:
    sys.exit('the tensorflow wheel lacks ' + ', '.join(missing))
for wheel in cuda:
    with zipfile.ZipFile(wheel) as z:
        # Libraries (and nvcc's ptxas); headers and Python files are not needed at run time.
        files = [i for i in z.infolist() if i.filename.startswith('nvidia/') and not i.filename.endswith('/')
                 and '/include/' not in i.filename and not i.filename.endswith('.py')]
        if not files:
            sys.exit(os.path.basename(wheel) + ' has no files under nvidia/')
        for info in files:
            copy(z, info, os.path.join(deps, info.filename))
`;

/**
 * Replaces `pkgDir`'s deps/ with libtensorflow's two shared libraries and C headers from `tfWheel`, and each of
 * `cudaWheels`' nvidia/<name>/ (libraries, nvcc's ptxas) as deps/nvidia/<name>/, where the libraries' RUNPATH
 * ($ORIGIN/../nvidia/<name>/lib) finds them. `fail` reports what went wrong and exits.
 */
export function placeLibraries(py, pkgDir, tfWheel, cudaWheels, fail) {
  const deps = join(pkgDir, 'deps');
  rmSync(deps, { recursive: true, force: true });
  mkdirSync(join(deps, 'lib'), { recursive: true });
  const r = spawnSync(py, ['-c', EXTRACT, deps, tfWheel, ...cudaWheels], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  if (r.status !== 0)
    fail(`extracting the wheels failed: ${(r.stderr || '').toString().trim().split('\n').pop()}`);
  const lib = join(deps, 'lib');
  // The binding links -ltensorflow -ltensorflow_framework; install.js treats libtensorflow.so.2.9.1 as
  // "library present". The runtime SONAMEs stay libtensorflow_cc.so.2 / libtensorflow_framework.so.2.
  symlinkSync('libtensorflow_cc.so.2', join(lib, 'libtensorflow.so'));
  symlinkSync('libtensorflow_cc.so.2', join(lib, 'libtensorflow.so.2.9.1'));
  symlinkSync('libtensorflow_framework.so.2', join(lib, 'libtensorflow_framework.so'));
}

/** Builds the native binding of the tfjs-node package `name` in `pkgDir` from source with node-gyp. */
export function buildBinding(pkgDir, name, fail) {
  const bin = createRequire(join(pkgDir, 'package.json')).resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp');
  const r = spawnSync(process.execPath, [bin, 'rebuild', '--build-from-source'], {
    cwd: pkgDir,
    env: buildEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    const tail = (r.stderr || '').trim().split('\n').slice(-15).join('\n');
    fail(`building the ${name} binding failed (exit ${r.status}). Needs g++, make and python3.\n${tail}`);
  }
}
