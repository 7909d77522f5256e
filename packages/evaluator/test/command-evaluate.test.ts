import { rejectionOf } from '@rpg/core/test-support';
import { describe, expect, it } from 'vitest';
import {
  EvaluateCommandError,
  evaluateCommandSchema,
  parseCommandOutput,
  runEvaluateCommand,
} from '../src/command-evaluate.js';

/** A command that runs `script` with node; `{checkpoint}` arrives as its first argument. */
const nodeCommand = (script: string, timeoutSeconds = 30) =>
  evaluateCommandSchema.parse({ command: [process.execPath, '-e', script, '{checkpoint}'], timeoutSeconds });

const failure = async (p: Promise<unknown>) => (await rejectionOf(EvaluateCommandError, p)).message;

describe('evaluate.command', () => {
  it('reads the metric and the predictions from the last line, after any log lines', async () => {
    const cmd = nodeCommand(
      'console.log("loading", process.argv[1]); console.log(JSON.stringify({accuracy: 0.75, predictions: [1,0], labels: [1,1]}))',
    );
    const score = await runEvaluateCommand(cmd, '/models/a.safetensors', 'generated-0', 'generated model 0');
    expect(score).toEqual({ value: 0.75, predictions: [1, 0], labels: [1, 1] });
  });

  it('passes the checkpoint path as an argument, never through a shell', async () => {
    const cmd = nodeCommand(
      'console.log(JSON.stringify({accuracy: process.argv[1] === "a b;$(x).safetensors" ? 1 : 0}))',
    );
    expect((await runEvaluateCommand(cmd, 'a b;$(x).safetensors', 'm', 'model')).value).toBe(1);
  });

  it('a named metric', () => {
    expect(parseCommandOutput('{"f1": 0.5, "accuracy": 2}', 'f1', 'x').value).toBe(0.5);
  });

  it('times out: names the model, the limit and the last stderr lines', async () => {
    const message = await failure(
      runEvaluateCommand(
        nodeCommand('console.error("warming up the GPU"); setTimeout(() => {}, 60000)', 0.5),
        '/m/original.safetensors',
        'original-3',
        'original 3',
      ),
    );
    expect(message).toContain('original 3 (/m/original.safetensors)');
    expect(message).toContain('timed out after 0.5 s');
    expect(message).toContain('warming up the GPU');
  });

  it('a non-zero exit: the exit code and only the last stderr lines', async () => {
    const script =
      'for (let i = 0; i < 40; i++) console.error("line " + i); console.error("RuntimeError: size mismatch for 0.weight"); process.exit(3)';
    const message = await failure(
      runEvaluateCommand(nodeCommand(script), 'g.safetensors', 'g', 'generated model 2'),
    );
    expect(message).toContain('generated model 2');
    expect(message).toContain('exited with code 3');
    expect(message).toContain('RuntimeError: size mismatch for 0.weight');
    expect(message).not.toContain('line 5\n');
  });

  it('output that is not the expected JSON', async () => {
    const run = (script: string) =>
      failure(runEvaluateCommand(nodeCommand(script), 'n.safetensors', 'n', 'noise baseline σ=0.01 #0'));
    expect(await run('console.log("accuracy: 0.9")')).toMatch(
      /noise baseline σ=0.01 #0.*last line of output is not JSON/,
    );
    expect(await run('0')).toContain('printed nothing');
    expect(await run('console.log(JSON.stringify({acc: 0.9}))')).toContain('no "accuracy" (it has acc)');
    expect(await run('console.log(JSON.stringify({accuracy: 93.1}))')).toContain('not a fraction in [0, 1]');
    expect(await run('console.log(JSON.stringify([0.9]))')).toContain('not a JSON object');
    expect(await run('console.log(JSON.stringify({accuracy: 0.9, predictions: [0.5]}))')).toContain(
      '"predictions"',
    );
  });

  it('a program that does not exist', async () => {
    const cmd = evaluateCommandSchema.parse({ command: ['/no/such/python', '{checkpoint}'] });
    expect(await failure(runEvaluateCommand(cmd, 'm.safetensors', 'm', 'original 0'))).toContain(
      'cannot run "/no/such/python"',
    );
  });

  it('refuses a template without {checkpoint}', () => {
    expect(evaluateCommandSchema.safeParse({ command: ['python', 'eval.py'] }).success).toBe(false);
  });
});
