/** The work behind `rpg-checkpoint-harvest` (see cli.ts, which validates the arguments and imports this lazily). */
import { loadBackend, numel, type StateDict, terminalProgress } from '@rpg/core';
import { assertFreshOutDir } from '@rpg/core/durable-write';
import { type CheckpointsMeta, readCheckpoint, readCheckpointsMeta } from './checkpoints-dir.js';
import type { HarvestArgs, ImportArgs } from './cli.js';
import { checkCheckpoints, FLOAT_DTYPES, formatIssues } from './consistency.js';
import { type Dataset, loadMnist } from './data.js';
import { writeHarvest } from './harvest-dir.js';
import { importCheckpoints } from './import.js';
import { networkFromFlag } from './network-flag.js';
import { countParameters, describeSpec } from './networks.js';
import { type HarvestResult, harvestRun } from './train.js';

const out = (line = '') => process.stdout.write(`${line}\n`);

/** `max / avg / min` of percentages, e.g. `90.35 / 90.20 / 90.00`. */
export function accuracySummary(values: number[]): string {
  if (values.length === 0) return 'n/a';
  const avg = values.reduce((a, b) => a + b, 0) / values.length;
  return [Math.max(...values), avg, Math.min(...values)].map((v) => v.toFixed(2)).join(' / ');
}

export async function runHarvest(args: HarvestArgs): Promise<void> {
  const network = await networkFromFlag(args.network);
  await assertFreshOutDir(args.out); // fail before training, not after
  await loadBackend();
  const dataset = loadMnist({ seed: args.dataSeed, testSize: args.testSize });
  out(`network: ${describeSpec(network)} (${countParameters(network).toLocaleString('en')} parameters)`);
  out(`data: ${dataset.name} (${dataset.train.n} train, ${dataset.test.n} test)`);
  const bar = terminalProgress();
  const results: HarvestResult[] = [];
  for (let r = 0; r < args.runs; r++) {
    const seed = args.seed + r;
    const result = await harvestRun({
      network,
      dataset,
      seed,
      epochs: args.epochs,
      checkpoints: args.checkpoints,
      batchSize: args.batchSize,
      optimizer: args.optimizer,
      lr: args.lr,
      ...(args.finalLr === undefined ? {} : { finalLr: args.finalLr }),
      progress: (e) => bar({ ...e, stage: `run ${r + 1}/${args.runs}` }),
    });
    results.push(result);
    out(
      `run ${r} (seed ${seed}): converged ${result.convergedAccuracy.toFixed(2)}%, ` +
        `${result.checkpoints.length} checkpoints max / avg / min ${accuracySummary(result.checkpoints.map((c) => c.testAccuracy))}%, ` +
        `${result.seconds.toFixed(1)} s`,
    );
  }
  const meta = await writeHarvest(args.out, { network, datasetName: dataset.name, results });
  if (args.runs > 1) {
    out(
      `all runs: max / avg / min ${accuracySummary(meta.checkpoints.map((c) => c.testAccuracy ?? Number.NaN))}%`,
    );
  }
  out(
    `wrote ${meta.checkpoints.length} checkpoints (${args.runs} run${args.runs === 1 ? '' : 's'}) to ${args.out}`,
  );
}

export async function runImport(args: ImportArgs): Promise<void> {
  const network = args.network === undefined ? undefined : await networkFromFlag(args.network);
  let dataset: Dataset | undefined;
  if (args.evaluate) {
    await loadBackend();
    dataset = loadMnist({ seed: args.dataSeed, testSize: args.testSize });
  }
  const meta = await importCheckpoints(args.inputs, args.out, {
    ...(network ? { network } : {}),
    ...(dataset ? { dataset } : {}),
    onWarning: (line) => process.stderr.write(`rpg-checkpoint-harvest: warning: ${line}\n`),
    progress: terminalProgress(),
  });
  out(`imported ${meta.checkpoints.length} checkpoints to ${args.out}`);
  out(
    `network: ${network ? describeSpec(network) : 'not given (names and shapes only checked against each other)'}`,
  );
  if (dataset) {
    out(
      `test accuracy on ${dataset.name}: max / avg / min ${accuracySummary(meta.checkpoints.map((c) => c.testAccuracy ?? Number.NaN))}%`,
    );
  }
}

function describeTensors(sd: StateDict): string[] {
  return [...sd].map(([name, t]) => `  ${name}  ${t.dtype} [${t.shape.join(', ')}]`);
}

/** Prints the collection; returns false when its files are missing, unreadable or inconsistent. */
export async function runInspect(dir: string): Promise<boolean> {
  const meta: CheckpointsMeta = await readCheckpointsMeta(dir);
  const network = meta.network;
  const stateDicts: { where: string; stateDict: StateDict }[] = [];
  const unreadable: string[] = [];
  for (const entry of meta.checkpoints) {
    try {
      stateDicts.push({ where: entry.file, stateDict: await readCheckpoint(dir, entry) });
    } catch (err) {
      unreadable.push(`  - ${entry.file}: ${(err as Error).message}`);
    }
  }
  const first = stateDicts[0]?.stateDict;
  out(`collection: ${dir}`);
  if (network)
    out(`network: ${describeSpec(network)} (${countParameters(network).toLocaleString('en')} parameters)`);
  else out('network: not recorded');
  if (first) {
    let floats = 0;
    for (const t of first.values()) if (FLOAT_DTYPES.has(t.dtype)) floats += numel(t.shape);
    out(`tensors: ${first.size} (${floats.toLocaleString('en')} float values per checkpoint)`);
  }
  out(`data set: ${meta.dataset ?? 'not recorded'}`);
  const runIds = [...new Set(meta.checkpoints.map((c) => c.run))].sort((a, b) => a - b);
  out(`checkpoints: ${meta.checkpoints.length} in ${runIds.length} run${runIds.length === 1 ? '' : 's'}`);
  for (const r of runIds) {
    const entries = meta.checkpoints.filter((c) => c.run === r);
    const facts = meta.runs[r] ?? {};
    const parts = [`run ${r}: ${entries.length} checkpoints`];
    if (typeof facts.seed === 'number') parts.push(`seed ${facts.seed}`);
    if (typeof facts.convergedAccuracy === 'number')
      parts.push(`converged ${facts.convergedAccuracy.toFixed(2)}%`);
    const accs = entries.map((c) => c.testAccuracy).filter((a): a is number => a !== null);
    if (accs.length > 0) parts.push(`accuracy max / avg / min ${accuracySummary(accs)}%`);
    out(parts.join(', '));
  }
  const all = meta.checkpoints.map((c) => c.testAccuracy).filter((a): a is number => a !== null);
  out(
    all.length > 0
      ? `accuracy (${all.length} measured): max / avg / min ${accuracySummary(all)}%`
      : 'accuracy: not measured',
  );
  if (first) {
    out('tensors of the first checkpoint:');
    for (const line of describeTensors(first)) out(line);
  }
  if (unreadable.length > 0) {
    process.stderr.write(
      `rpg-checkpoint-harvest: error: unreadable checkpoints:\n${unreadable.join('\n')}\n`,
    );
    return false;
  }
  const { issues, warnings } = checkCheckpoints(stateDicts, network ?? undefined);
  for (const w of warnings) out(`note: ${w}`);
  if (issues.length > 0) {
    process.stderr.write(
      `rpg-checkpoint-harvest: error: the collection is inconsistent (${issues.length} problems):\n${formatIssues(issues, issues.length)}\n`,
    );
    return false;
  }
  out(`consistent: yes (${stateDicts.length} files checked)`);
  return true;
}
