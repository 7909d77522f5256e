import { createRequire } from 'node:module';
import { tf } from './tf.js';

/** Which tfjs backend to use. `node-gpu` and `node` are native (libtensorflow); `wasm` and `cpu` are slow. */
export type BackendChoice = 'node-gpu' | 'node' | 'wasm' | 'cpu';
export const BACKEND_ORDER: readonly BackendChoice[] = ['node-gpu', 'node', 'wasm', 'cpu'];

export interface LoadedBackend {
  choice: BackendChoice;
  /** tfjs's own backend name: 'tensorflow' for both native variants. */
  name: string;
  native: boolean;
}

const require = createRequire(import.meta.url);
let loaded: LoadedBackend | undefined;

function parseChoice(value: string): BackendChoice {
  if ((BACKEND_ORDER as readonly string[]).includes(value)) return value as BackendChoice;
  throw new Error(`RPG_BACKEND=${value} is not a backend; use one of ${BACKEND_ORDER.join(', ')}.`);
}

/**
 * TensorFlow turns its oneDNN CPU kernels on by default only on CPUs with AVX-512 VNNI/BF16 or AMX. On other x86
 * CPUs they still make the decoder's convolutions about 1.5x faster (README, "Step speed"), so they are on unless
 * the user set `TF_ENABLE_ONEDNN_OPTS` (0 turns them off). Set before libtensorflow loads: it reads it once.
 */
function preferOneDnn(): void {
  process.env.TF_ENABLE_ONEDNN_OPTS ??= '1';
}

async function tryLoad(choice: BackendChoice): Promise<string | Error> {
  if (choice === 'node' || choice === 'node-gpu') preferOneDnn();
  try {
    switch (choice) {
      case 'node-gpu':
        // Optional: present only where a user installed the GPU build.
        require('@tensorflow/tfjs-node-gpu');
        return 'tensorflow';
      case 'node':
        require('@tensorflow/tfjs-node');
        return 'tensorflow';
      case 'wasm':
        await import('@tensorflow/tfjs-backend-wasm');
        return 'wasm';
      case 'cpu':
        return 'cpu';
    }
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

export interface LoadBackendOptions {
  /** Force a backend; defaults to the RPG_BACKEND environment variable, else the first that loads. */
  backend?: BackendChoice;
  /** Where the one-line announcement goes; defaults to stderr. Pass `null` for silence. */
  log?: ((line: string) => void) | null;
}

/**
 * Loads the fastest tfjs backend available: tfjs-node-gpu → tfjs-node → wasm → cpu.
 * Announces the choice in one line, and loudly when it is not native. Safe to call many times.
 */
export async function loadBackend(options: LoadBackendOptions = {}): Promise<LoadedBackend> {
  if (loaded) return loaded;
  const forced =
    options.backend ?? (process.env.RPG_BACKEND ? parseChoice(process.env.RPG_BACKEND) : undefined);
  const candidates = forced ? [forced] : BACKEND_ORDER;
  const failures: string[] = [];
  for (const choice of candidates) {
    const result = await tryLoad(choice);
    if (result instanceof Error) {
      failures.push(`${choice}: ${result.message.split('\n')[0]}`);
      continue;
    }
    if (!(await tf.setBackend(result))) {
      failures.push(`${choice}: tf.setBackend('${result}') failed`);
      continue;
    }
    await tf.ready();
    loaded = { choice, name: result, native: choice === 'node' || choice === 'node-gpu' };
    announce(loaded, options.log === undefined ? (line) => process.stderr.write(`${line}\n`) : options.log);
    return loaded;
  }
  throw new Error(`No tfjs backend could be loaded:\n  ${failures.join('\n  ')}`);
}

function announce(backend: LoadedBackend, log: ((line: string) => void) | null): void {
  if (!log) return;
  log(`[rpg] tfjs backend: ${backend.choice} (tfjs ${tf.version.tfjs}, engine '${backend.name}')`);
  if (!backend.native) {
    log(
      `[rpg] WARNING: '${backend.choice}' is not a native backend and is about 100x slower than tfjs-node. ` +
        'Run `bash infra/setup.sh` to build tfjs-node.',
    );
  }
}

/** The backend loaded so far, if any. */
export function currentBackend(): LoadedBackend | undefined {
  return loaded;
}
