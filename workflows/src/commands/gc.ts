import { ArtifactStore, applyGc, describeGc, KEEP_TRAIN_STATES, planGc } from '@rpg/core';
import { commandArgs, printHelp, storeOption, UsageError } from './common.js';

export const help = `rpg gc [--store <dir>] [--delete]
    Lists what the artifact store holds that no run needs any more, and with --delete removes it:
    - resume states (train-state) of generator trainings that finished, and their resume pointers;
    - of trainings not finished (running, stopped or failed: resumable), all but the latest ${KEEP_TRAIN_STATES} states
      (training itself keeps only that many);
    - temp dirs of writes interrupted more than an hour ago.
    Stage outputs (checkpoints, tokens, generators, reports) are never removed: any config that made them may be
    run again and reuse them. Without --delete nothing is removed (a dry run).
    --store <dir>   artifact store (default .rpg/store)
    --delete        remove what is listed
`;

export async function gc(argv: string[]): Promise<number> {
  const { values, positionals } = commandArgs('gc', argv, {
    store: { type: 'string' },
    delete: { type: 'boolean' },
  });
  if (values.help) return printHelp(help);
  if (positionals.length > 0) throw new UsageError(`rpg gc takes no arguments, got "${positionals[0]}"`);
  const store = new ArtifactStore(await storeOption(values.store));
  const items = await planGc(store);
  for (const item of items) process.stdout.write(`${item.path}  (${item.why})\n`);
  if (items.length === 0) {
    process.stdout.write(`nothing to remove in ${store.root}\n`);
  } else if (values.delete) {
    await applyGc(store, items);
    process.stdout.write(`removed ${describeGc(items)} from ${store.root}\n`);
  } else {
    process.stdout.write(
      `would remove ${describeGc(items)} from ${store.root}; run with --delete to remove them\n`,
    );
  }
  return 0;
}
