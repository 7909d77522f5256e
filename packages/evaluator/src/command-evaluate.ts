/**
 * Evaluation by the user's own command: an argv template run once per model, `{checkpoint}` replaced by the
 * model's safetensors file (and `{model}` by its label, e.g. `generated-3`), that prints one JSON object with the
 * metric (`accuracy` unless `metric` names another, a fraction in [0, 1]) and, optionally, `predictions` and
 * `labels` per test sample, which turn on the misclassification-IoU figures. A timeout, a non-zero exit or output
 * that is not that JSON is an {@link EvaluateCommandError} naming the model and quoting the last stderr lines.
 */
import { spawn } from 'node:child_process';
import { InputError } from '@rpg/core/input-error';
import { z } from 'zod';

export const CHECKPOINT_PLACEHOLDER = '{checkpoint}';
export const MODEL_PLACEHOLDER = '{model}';
/** Lines of the command's stderr quoted in an error. */
const STDERR_LINES = 12;
/** Output kept per stream (the tail), so a chatty command cannot fill memory. */
const MAX_OUTPUT_BYTES = 1 << 20;

/** The `evaluate` fields that choose evaluation by command (all absent: the built-in evaluation). */
export const evaluateCommandFields = {
  /** argv template, e.g. ["python", "eval.py", "{checkpoint}"]; run without a shell. */
  command: z
    .array(z.string().min(1).max(4096))
    .min(1)
    .max(256)
    .refine((argv) => argv.some((a) => a.includes(CHECKPOINT_PLACEHOLDER)), {
      message: `one argument must hold ${CHECKPOINT_PLACEHOLDER} (the model's safetensors file)`,
    }),
  /** The key of the printed JSON object that holds the score, a fraction in [0, 1] (default `accuracy`). */
  metric: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'a JSON key: letters, digits, _ . -')
    .max(64),
  /** Seconds one model's evaluation may take (default 600). */
  timeoutSeconds: z.number().positive().max(86_400),
  /** Directory the command runs in (a config file's relative paths are resolved to its own directory). */
  cwd: z.string().min(1).max(4096),
};

export const evaluateCommandSchema = z
  .object({
    command: evaluateCommandFields.command,
    metric: evaluateCommandFields.metric.default('accuracy'),
    timeoutSeconds: evaluateCommandFields.timeoutSeconds.default(600),
    cwd: evaluateCommandFields.cwd.optional(),
  })
  .strict();
export type EvaluateCommand = z.output<typeof evaluateCommandSchema>;
export type EvaluateCommandInput = z.input<typeof evaluateCommandSchema>;

/** The user's command failed, timed out or printed no usable figure: retrying gives the same. */
export class EvaluateCommandError extends InputError {
  override readonly name = 'EvaluateCommandError';
}

/** What the command printed for one model. */
export interface CommandScore {
  /** The metric, as a fraction in [0, 1]. */
  value: number;
  predictions?: number[];
  labels?: number[];
  /** A name for the data the command evaluates on, when it prints one (`dataset`). */
  dataset?: string;
}

const intArray = z.array(z.number().int().nonnegative());

function tailLines(text: string, n: number): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-n).join('\n');
}

/** The command's last stderr lines, indented, for an error message. */
function stderrTail(stderr: string): string {
  const tail = tailLines(stderr, STDERR_LINES);
  return tail
    ? `\nlast lines of its stderr:\n${tail.replace(/^/gm, '  | ')}`
    : '\n(it wrote nothing to stderr)';
}

/** Parses the command's stdout: the last non-empty line must be the JSON object (earlier lines may be logs). */
export function parseCommandOutput(stdout: string, metric: string, what: string, stderr = ''): CommandScore {
  const last = stdout.trimEnd().split('\n').at(-1)?.trim() ?? '';
  const fail = (why: string): never => {
    throw new EvaluateCommandError(`evaluate.command on ${what}: ${why}${stderrTail(stderr)}`);
  };
  let value: unknown;
  try {
    value = JSON.parse(last);
  } catch {
    return fail(
      last
        ? `its last line of output is not JSON: ${JSON.stringify(last.slice(0, 200))}; print one JSON object, e.g. {"${metric}": 0.97}`
        : `it printed nothing; print one JSON object, e.g. {"${metric}": 0.97}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(`it printed ${JSON.stringify(value)?.slice(0, 100)}, not a JSON object with "${metric}"`);
  const obj = value as Record<string, unknown>;
  const score = obj[metric];
  if (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 1) {
    const keys = Object.keys(obj).slice(0, 10).join(', ') || 'no keys';
    return fail(
      score === undefined
        ? `its JSON has no "${metric}" (it has ${keys}); print the metric as a fraction in [0, 1]`
        : `"${metric}" is ${JSON.stringify(score)}, not a fraction in [0, 1]`,
    );
  }
  const out: CommandScore = { value: score };
  for (const key of ['predictions', 'labels'] as const) {
    if (obj[key] === undefined) continue;
    const parsed = intArray.safeParse(obj[key]);
    if (!parsed.success) return fail(`"${key}" must be an array of class indices (non-negative integers)`);
    out[key] = parsed.data;
  }
  if (out.predictions && out.labels && out.predictions.length !== out.labels.length)
    return fail(`"predictions" has ${out.predictions.length} entries but "labels" ${out.labels.length}`);
  if (typeof obj.dataset === 'string') out.dataset = obj.dataset.slice(0, 200);
  return out;
}

/** The argv of one run: the template with the placeholders filled in. */
export function commandArgv(template: readonly string[], checkpoint: string, model: string): string[] {
  return template.map((a) =>
    a.replaceAll(CHECKPOINT_PLACEHOLDER, checkpoint).replaceAll(MODEL_PLACEHOLDER, model),
  );
}

/** Keeps the last `MAX_OUTPUT_BYTES` of a stream. */
function collector() {
  let text = '';
  return {
    add(chunk: Buffer) {
      text += chunk.toString('utf8');
      if (text.length > MAX_OUTPUT_BYTES) text = text.slice(-MAX_OUTPUT_BYTES);
    },
    get text() {
      return text;
    },
  };
}

/**
 * Runs the command on one model (`what` names it in errors, `model` fills `{model}`) and returns its score.
 * `signal` stops it (the process is killed).
 */
export async function runEvaluateCommand(
  command: EvaluateCommand,
  checkpoint: string,
  model: string,
  what: string,
  signal?: AbortSignal,
): Promise<CommandScore> {
  const [file, ...args] = commandArgv(command.command, checkpoint, model);
  const stdout = collector();
  const stderr = collector();
  const shown = `${what} (${checkpoint})`;
  const { code, timedOut, spawnError } = await new Promise<{
    code: number | null;
    timedOut: boolean;
    spawnError?: Error;
  }>((resolve) => {
    const child = spawn(file!, args, {
      ...(command.cwd ? { cwd: command.cwd } : {}),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(signal ? { signal } : {}),
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, command.timeoutSeconds * 1000);
    child.stdout.on('data', stdout.add);
    child.stderr.on('data', stderr.add);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, timedOut, spawnError: err });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut });
    });
  });
  signal?.throwIfAborted();
  if (spawnError) {
    throw new EvaluateCommandError(
      `evaluate.command on ${shown}: cannot run ${JSON.stringify(file)}: ${spawnError.message}` +
        `${command.cwd ? ` (in ${command.cwd})` : ''}`,
    );
  }
  if (timedOut) {
    throw new EvaluateCommandError(
      `evaluate.command on ${shown}: timed out after ${command.timeoutSeconds} s (evaluate.timeoutSeconds) and was killed${stderrTail(stderr.text)}`,
    );
  }
  if (code !== 0) {
    throw new EvaluateCommandError(
      `evaluate.command on ${shown}: exited with ${code === null ? 'a signal' : `code ${code}`}${stderrTail(stderr.text)}`,
    );
  }
  return parseCommandOutput(stdout.text, command.metric, shown, stderr.text);
}
