/**
 * rpg-checkpoint-harvest: train checkpoint collections on MNIST, import checkpoints trained elsewhere, inspect a
 * collection. This file parses and validates the arguments with light imports only, so `--help` and usage
 * errors are quick; the commands (which load @rpg/core and with it tfjs) are imported once the arguments are good.
 */
import type { parseArgs } from 'node:util';
import { numberFlag, parseCommandLine, parseFlags, runCli, UsageError } from '@rpg/core/cli-kit';
import { z } from 'zod';

const PRESETS = ['mlp', 'cnn-s', 'cnn-m'] as const;

const HARVEST_HELP = `  rpg-checkpoint-harvest harvest --network <mlp | cnn-s | cnn-m | spec.json> --out <dir> [options]
      Trains the network on MNIST --runs times (seeds seed, seed+1, …): --epochs epochs with the LR decaying
      (cosine) from --lr to --final-lr, then one collection epoch at --final-lr saving --checkpoints state dicts
      evenly across it. Writes the collection to <dir> (a new or empty directory): run<r>-ckpt<i>.safetensors
      (PyTorch state-dict names) and checkpoints.json. Prints each run's accuracies.
      --runs <n>              training runs, one seed each (default 1, at most 1000)
      --seed <s>              seed of the first run (default 0, at most 2^32 − 1)
      --epochs <e>            training epochs before the collection epoch (default 3, at most 10000)
      --checkpoints <c>       checkpoints saved per run (default 50, at most 100000)
      --batch-size <b>        (default 64, at most 65536)
      --optimizer <o>         adam (default) or sgd
      --lr <x>                initial learning rate (default 0.001, at most 10)
      --final-lr <x>          learning rate at the end of training and in the collection epoch (default lr/10)
      --test-size <n>         MNIST test split size (default 2000 of the 10,000 digits)
      --data-seed <s>         seed of the MNIST train/test split (default 0)
`;

const IMPORT_HELP = `  rpg-checkpoint-harvest import <checkpoint.safetensors | dir>... --out <dir> [--network <n>] [--evaluate]
      Imports checkpoints trained elsewhere (e.g. PyTorch save_file(model.state_dict())): files as given, a
      directory as its *.safetensors in natural name order (ckpt-2 before ckpt-10). Checks that they are one
      architecture (names, shapes, dtypes, finite values, equal non-float tensors) and writes nothing if not;
      stores float tensors as F32.
      --network <n>           a preset (mlp, cnn-s, cnn-m) or spec.json: the files must hold exactly its tensors
      --evaluate              measure each checkpoint's MNIST test accuracy (needs --network)
      --test-size <n>         with --evaluate: MNIST test split size (default 2000)
      --data-seed <s>         with --evaluate: seed of the MNIST train/test split (default 0)
`;

const INSPECT_HELP = `  rpg-checkpoint-harvest inspect <dir>
      Prints a collection: network and parameter count, data set, runs, accuracy max / avg / min, tensors;
      checks that all its checkpoints are readable and consistent (exit code 1 if not).
`;

const SPEC_HELP = `  Network spec files (--network spec.json), one JSON object; defaults are PyTorch's:
    {"type": "mlp", "sizes": [784, 64, 10]}                      nn.Sequential(Linear, ReLU, …, Linear)
    {"type": "cnn", "inputShape": [28, 28, 1], "numClasses": 10,
     "conv": [{"out": 8, "kernel": 3, "padding": 1, "stride": 1, "bias": true, "pool": false}, …]}
                                  Conv2d → BatchNorm2d → ReLU (→ MaxPool2d(2)) per block, average pool, Linear
    {"type": "resnet", "inputShape": [14, 14, 1], "numClasses": 10,
     "stem": {"out": 16, "kernel": 3, "padding": 1}, "stages": [{"out": 16, "blocks": 2, "stride": 1}, …]}
                                  torchvision ResNet of BasicBlocks without the stem max-pool
    conv "padding" is required (PyTorch's default, 0, would silently change the function); "names" maps the
    spec's tensor names to other checkpoint keys, e.g. {"conv1.weight": "0.weight"}. See the README's
    "Network specs" for the tensor names of each kind.
`;

const HELP = `rpg-checkpoint-harvest: collect checkpoints of one network for RPG

From the repository root, run it as "pnpm exec rpg-checkpoint-harvest ...".

Usage:
${HARVEST_HELP}
${IMPORT_HELP}
${INSPECT_HELP}
  rpg-checkpoint-harvest <command> --help

${SPEC_HELP}`;

const COMMAND_HELP: Record<string, string> = {
  harvest: `${HARVEST_HELP}\n${SPEC_HELP}`,
  import: `${IMPORT_HELP}\n${SPEC_HELP}`,
  inspect: INSPECT_HELP,
};

const options = {
  network: { type: 'string' },
  out: { type: 'string' },
  runs: { type: 'string' },
  seed: { type: 'string' },
  epochs: { type: 'string' },
  checkpoints: { type: 'string' },
  'batch-size': { type: 'string' },
  optimizer: { type: 'string' },
  lr: { type: 'string' },
  'final-lr': { type: 'string' },
  'test-size': { type: 'string' },
  'data-seed': { type: 'string' },
  evaluate: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];
type OptionName = keyof typeof options;

const intArg = (flag: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  numberFlag(
    flag.slice(2),
    `an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in ${min}…${max}`}`,
    (v) => Number.isInteger(v) && v >= min && v <= max,
  ).optional();

const positiveArg = (flag: string, max: number) =>
  numberFlag(flag.slice(2), `a number in (0, ${max}]`, (v) => v > 0 && v <= max).optional();

const networkArg = z
  .string({ error: '--network is required: a preset (mlp, cnn-s, cnn-m) or a spec .json file' })
  .refine((v) => (PRESETS as readonly string[]).includes(v) || v.endsWith('.json'), {
    error: (issue) =>
      `--network must be a preset (${PRESETS.join(', ')}) or a network spec file ending in .json, got "${String(issue.input)}"`,
  });

const outArg = z
  .string({ error: '--out <dir> is required: a new or empty directory for the collection' })
  .min(1, '--out must not be empty');

const MNIST_TOTAL = 10_000;
/** Seeds are unsigned 32-bit integers (restated from @rpg/core, which this file does not load). */
const MAX_SEED = 2 ** 32 - 1;

const harvestArgsSchema = z.object({
  network: networkArg,
  out: outArg,
  runs: intArg('--runs', 1, 1000).default(1),
  seed: intArg('--seed', 0, MAX_SEED).default(0),
  epochs: intArg('--epochs', 0, 10_000).default(3),
  checkpoints: intArg('--checkpoints', 1, 100_000).default(50),
  batchSize: intArg('--batch-size', 1, 65_536).default(64),
  optimizer: z
    .enum(['adam', 'sgd'], { error: (i) => `--optimizer must be adam or sgd, got "${String(i.input)}"` })
    .default('adam'),
  lr: positiveArg('--lr', 10).default(1e-3),
  finalLr: positiveArg('--final-lr', 10),
  testSize: intArg('--test-size', 1, MNIST_TOTAL - 1).default(2000),
  dataSeed: intArg('--data-seed', 0, MAX_SEED).default(0),
});
export type HarvestArgs = z.output<typeof harvestArgsSchema>;

const importArgsSchema = z
  .object({
    inputs: z.array(z.string()).min(1, 'import needs checkpoint files or directories of *.safetensors'),
    out: outArg,
    network: networkArg.optional(),
    evaluate: z.boolean().default(false),
    testSize: intArg('--test-size', 1, MNIST_TOTAL - 1).default(2000),
    dataSeed: intArg('--data-seed', 0, MAX_SEED).default(0),
  })
  .refine((a) => !a.evaluate || a.network !== undefined, {
    error: '--evaluate needs --network <preset | spec.json> to run the checkpoints',
  });
export type ImportArgs = z.output<typeof importArgsSchema>;

function allowOnly(values: Values, allowed: OptionName[], command: string): void {
  for (const name of Object.keys(values) as OptionName[]) {
    if (name === 'help' || allowed.includes(name) || values[name] === undefined) continue;
    throw new UsageError(`--${name} does not apply to ${command}`);
  }
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(argv, options);
  const [command, ...rest] = positionals;
  if (command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const commandHelp = COMMAND_HELP[command];
  if (!commandHelp) throw new UsageError(`unknown command "${command}"; use harvest, import or inspect`);
  if (values.help) {
    process.stdout.write(`Usage:\n${commandHelp}`);
    return;
  }

  if (command === 'harvest') {
    allowOnly(
      values,
      [
        'network',
        'out',
        'runs',
        'seed',
        'epochs',
        'checkpoints',
        'batch-size',
        'optimizer',
        'lr',
        'final-lr',
        'test-size',
        'data-seed',
      ],
      'harvest',
    );
    if (rest.length > 0)
      throw new UsageError(`harvest takes no positional arguments, got "${rest.join(' ')}"`);
    const args = parseFlags(harvestArgsSchema, {
      network: values.network,
      out: values.out,
      runs: values.runs,
      seed: values.seed,
      epochs: values.epochs,
      checkpoints: values.checkpoints,
      batchSize: values['batch-size'],
      optimizer: values.optimizer,
      lr: values.lr,
      finalLr: values['final-lr'],
      testSize: values['test-size'],
      dataSeed: values['data-seed'],
    });
    const { runHarvest } = await import('./cli-commands.js');
    await runHarvest(args);
    return;
  }
  if (command === 'import') {
    allowOnly(values, ['out', 'network', 'evaluate', 'test-size', 'data-seed'], 'import');
    const args = parseFlags(importArgsSchema, {
      inputs: rest,
      out: values.out,
      network: values.network,
      evaluate: values.evaluate,
      testSize: values['test-size'],
      dataSeed: values['data-seed'],
    });
    const { runImport } = await import('./cli-commands.js');
    await runImport(args);
    return;
  }
  // inspect
  allowOnly(values, [], 'inspect');
  if (rest.length !== 1)
    throw new UsageError(`inspect needs exactly one collection directory, got ${rest.length}`);
  const { runInspect } = await import('./cli-commands.js');
  if (!(await runInspect(rest[0]!))) process.exitCode = 1;
}

await runCli('rpg-checkpoint-harvest', () => main(process.argv.slice(2)), { errorPrefix: 'error: ' });
