import { parseArgs } from 'node:util';
import { currentBackend, loadBackend } from '@rpg/core';
import { z } from 'zod';
import { prototypeConfigSchema } from './config.js';
import { measurePrototypeModel, syntheticPositions } from './inspect.js';

const HELP = `rpg-recurrent-prototype — the recurrent prototype generator of RPG (Mamba2 / LSTM / Transformer / none)

From the repository root, run it as "pnpm exec rpg-recurrent-prototype ...".

Usage:
  rpg-recurrent-prototype inspect [options]   parameter count and forward / forward+backward time per model
  rpg-recurrent-prototype --help

Options for inspect:
  --model <name>        mamba2 | lstm | transformer | none | all   (default: all)
  --d <n>               prototype width d (default 256)
  --tokens <n>          number of token positions L (default 200)
  --layer-tokens <n>    tokens per network layer, for the 2D position embedding (default 50)
  --layers <n>          sequence-model layers (default 2)
  --position <kind>     2d | 1d | learnable (default 2d)
  --batch <n>           sequences per forward pass (default 1)
  --repeats <n>         timed repetitions; the median is shown (default 3)
  --seed <n>            initialisation seed (default 0)
  --d-state, --expand, --conv-width, --head-dim, --chunk-size <n>   Mamba2 settings (32, 2, 4, 64, 64)
  --heads <n>           Transformer heads (default 4)

Example:
  rpg-recurrent-prototype inspect --model mamba2 --d 256 --tokens 200
`;

const MODELS = ['mamba2', 'lstm', 'transformer', 'none'] as const;

const intArg = (name: string) =>
  z.coerce
    .number({ error: `--${name} must be a number` })
    .int(`--${name} must be an integer`)
    .positive(`--${name} must be > 0`);

const inspectArgs = z.object({
  model: z
    .enum([...MODELS, 'all'], { error: `--model must be one of ${[...MODELS, 'all'].join(', ')}` })
    .default('all'),
  d: intArg('d').default(256),
  tokens: intArg('tokens').default(200),
  'layer-tokens': intArg('layer-tokens').default(50),
  layers: intArg('layers').default(2),
  position: z
    .enum(['2d', '1d', 'learnable'], { error: '--position must be 2d, 1d or learnable' })
    .default('2d'),
  batch: intArg('batch').default(1),
  repeats: intArg('repeats').default(3),
  seed: z.coerce.number().int('--seed must be an integer').min(0, '--seed must be ≥ 0').default(0),
  'd-state': intArg('d-state').optional(),
  expand: intArg('expand').optional(),
  'conv-width': intArg('conv-width').optional(),
  'head-dim': intArg('head-dim').optional(),
  'chunk-size': intArg('chunk-size').optional(),
  heads: intArg('heads').optional(),
});

function fail(message: string): never {
  process.stderr.write(`rpg-recurrent-prototype: ${message}\nRun with --help for usage.\n`);
  process.exit(1);
}

async function inspect(argv: string[]): Promise<void> {
  const stringOpts = [
    'model',
    'd',
    'tokens',
    'layer-tokens',
    'layers',
    'position',
    'batch',
    'repeats',
    'seed',
    'd-state',
    'expand',
    'conv-width',
    'head-dim',
    'chunk-size',
    'heads',
  ] as const;
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(stringOpts.map((o) => [o, { type: 'string' as const }])),
    strict: true,
    allowPositionals: false,
  });
  const parsed = inspectArgs.safeParse(values);
  if (!parsed.success) fail(parsed.error.issues.map((i) => i.message).join('; '));
  const a = parsed.data;
  const models = a.model === 'all' ? [...MODELS] : [a.model];
  const configs = models.map((model) => {
    const r = prototypeConfigSchema.safeParse({
      model,
      d: a.d,
      layers: a.layers,
      position: a.position,
      dState: a['d-state'],
      expand: a.expand,
      convWidth: a['conv-width'],
      headDim: a['head-dim'],
      chunkSize: a['chunk-size'],
      heads: a.heads,
    });
    if (!r.success)
      fail(`${model}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return r.data;
  });

  await loadBackend();
  const positions = syntheticPositions(a.tokens, a['layer-tokens']);
  const backend = currentBackend();
  process.stdout.write(
    `B=${a.batch}  L=${a.tokens}  d=${a.d}  layers=${a.layers}  position=${a.position}  backend=${backend?.choice}\n`,
  );
  process.stdout.write(
    `${'model'.padEnd(12)}${'params'.padStart(12)}${'forward ms'.padStart(14)}${'fwd+bwd ms'.padStart(14)}\n`,
  );
  for (const config of configs) {
    const m = measurePrototypeModel(config, positions, { batch: a.batch, repeats: a.repeats, seed: a.seed });
    process.stdout.write(
      `${m.model.padEnd(12)}${m.parameters.toLocaleString('en-US').padStart(12)}${m.forwardMs.toFixed(1).padStart(14)}${m.forwardBackwardMs.toFixed(1).padStart(14)}\n`,
    );
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    if (command === undefined) process.exitCode = 1;
    return;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  if (command !== 'inspect') fail(`unknown command '${command}'; the only command is 'inspect'`);
  await inspect(rest);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  fail(err instanceof Error ? err.message : String(err));
});
