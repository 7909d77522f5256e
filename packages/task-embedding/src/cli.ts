/**
 * rpg-task-embedding: task descriptors, their vectors and the seen/unseen split, by hand. Light imports only
 * (no tfjs): everything here is plain data.
 */
import { parseArgs } from 'node:util';
import { readJsonFile } from '@rpg/core';
import { UsageError } from '@rpg/core/cli-kit';
import { z } from 'zod';
import { parseTaskDescriptor, subsetBits, TaskError, taskId, taskVector } from './descriptor.js';
import { splitTasks } from './split.js';

const HELP = `rpg-task-embedding: task descriptors -> vectors, and seen/unseen task splits

From the repository root, run it as "pnpm exec rpg-task-embedding ...".

Usage:
  rpg-task-embedding split --classes <n> --unseen <u> [--seen <s>] [--seed <seed>] [--json]
      Divides the 2^n - 2 binary class-subset tasks of an n-class data set (all-negative and all-positive
      left out: 1022 for n = 10) into unseen (held-out) and seen (training) tasks, reproducibly from the seed.
      Prints the counts and the unseen tasks; --json prints {"seen": [...], "unseen": [...]} descriptors.
      --seen <s>      seen tasks to keep (default: all the others)
      --seed <seed>   default 0

  rpg-task-embedding vector <descriptor.json | JSON text>
      Validates a task descriptor and prints its id and the vector the embedding network reads, e.g.
      rpg-task-embedding vector '{"kind":"class-subset","numClasses":10,"positive":[1,3]}'

  rpg-task-embedding --help
`;

const count = (flag: string) =>
  z
    .string({ error: `${flag} is required` })
    .regex(/^\d+$/, `${flag} must be a non-negative integer`)
    .transform(Number);

const splitArgs = z.object({
  classes: count('--classes'),
  unseen: count('--unseen'),
  seen: count('--seen').optional(),
  seed: count('--seed').default(0),
});

async function readDescriptor(arg: string): Promise<unknown> {
  if (!arg.trim().startsWith('{')) {
    try {
      return await readJsonFile(arg, { what: 'task descriptor', maxBytes: 1024 * 1024 });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  try {
    return JSON.parse(arg);
  } catch (err) {
    throw new UsageError(`the descriptor is not JSON: ${(err as Error).message}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      classes: { type: 'string' },
      unseen: { type: 'string' },
      seen: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(HELP);
    return values.help ? 0 : 1;
  }
  if (command === 'split') {
    const a = splitArgs.safeParse(values);
    if (!a.success) throw new UsageError(a.error.issues.map((i) => i.message).join('; '));
    const { classes, unseen, seen, seed } = a.data;
    const split = splitTasks({ numClasses: classes, unseen, seed, ...(seen === undefined ? {} : { seen }) });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(split)}\n`);
      return 0;
    }
    process.stdout.write(`${split.seen.length} seen, ${split.unseen.length} unseen tasks (seed ${seed})\n`);
    process.stdout.write('unseen (bits: class 0 first; positive classes):\n');
    for (const t of split.unseen) process.stdout.write(`  ${subsetBits(t)}  [${t.positive.join(', ')}]\n`);
    return 0;
  }
  if (command === 'vector') {
    if (rest.length !== 1) throw new UsageError('vector takes one descriptor (a file or JSON text)');
    const task = parseTaskDescriptor(await readDescriptor(rest[0]!), 'the descriptor');
    process.stdout.write(`${taskId(task)}\n${JSON.stringify(Array.from(taskVector(task)))}\n`);
    return 0;
  }
  throw new UsageError(`unknown command "${command}"; run rpg-task-embedding --help`);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = err as Error;
    const known =
      e instanceof UsageError ||
      e instanceof TaskError ||
      (e.name === 'TypeError' && /parseArgs|option/i.test(e.message)) ||
      (e as NodeJS.ErrnoException).code === 'ENOENT';
    process.stderr.write(`rpg-task-embedding: ${known ? e.message : (e.stack ?? e.message)}\n`);
    process.exit(1);
  },
);
