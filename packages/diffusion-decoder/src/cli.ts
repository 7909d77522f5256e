/**
 * rpg-diffusion-decoder: train the RPG generator on tokenized checkpoints, generate new checkpoints with it, and
 * inspect a trained one. Arguments are parsed and checked with light imports only, so `--help` and usage errors
 * are quick; each command (and with it the library and tfjs) is imported once the arguments are good.
 */
import { type CliOptions, parseCommandLine, parseFlags, runCli, UsageError } from '@rpg/core/cli-kit';
import { GENERATE_OPTIONS, generateArgsSchema, parseTrainArgs, TRAIN_OPTIONS } from './cli-flags.js';
import { GENERATE_HELP, INSPECT_HELP, TOOL, TOOL_HELP, TRAIN_HELP } from './cli-help.js';

/** String options named `names`, and --help. */
function stringOptions(names: readonly string[]): CliOptions {
  const options: CliOptions = { help: { type: 'boolean', short: 'h' } };
  for (const name of names) options[name] = { type: 'string' };
  return options;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(TOOL_HELP);
    return;
  }
  if (command === 'train') {
    const { values, positionals } = parseCommandLine(rest, stringOptions(TRAIN_OPTIONS), command);
    if (values.help) {
      process.stdout.write(TRAIN_HELP);
      return;
    }
    if (positionals.length > 0)
      throw new UsageError(`train takes no positional arguments, got "${positionals[0]}"`, command);
    const { runTrain } = await import('./cli-train.js');
    await runTrain(parseTrainArgs(values));
    return;
  }
  if (command === 'generate') {
    const { values, positionals } = parseCommandLine(rest, stringOptions(GENERATE_OPTIONS), command);
    if (values.help) {
      process.stdout.write(GENERATE_HELP);
      return;
    }
    if (positionals.length > 0) {
      throw new UsageError(`generate takes no positional arguments, got "${positionals[0]}"`, command);
    }
    const args = parseFlags(generateArgsSchema, values, { command, separator: '\n' });
    const { runGenerate } = await import('./cli-generate.js');
    await runGenerate(args);
    return;
  }
  if (command === 'inspect') {
    const { values, positionals } = parseCommandLine(rest, stringOptions([]), command);
    if (values.help) {
      process.stdout.write(INSPECT_HELP);
      return;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        `inspect needs exactly one generator directory, got ${positionals.length}`,
        command,
      );
    }
    const { runInspect } = await import('./cli-inspect.js');
    await runInspect(positionals[0]!);
    return;
  }
  throw new UsageError(`unknown command "${command}"; use train, generate or inspect`);
}

await runCli(TOOL, () => main(process.argv.slice(2)), { errorPrefix: 'error: ' });
