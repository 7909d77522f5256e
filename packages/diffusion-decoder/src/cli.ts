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

/**
 * The flags and positionals of `command`, checked against `names` (string flags, and --help); undefined when it
 * printed the command's help instead.
 */
function commandLine(command: string, rest: string[], names: readonly string[], help: string) {
  const parsed = parseCommandLine(rest, stringOptions(names), command);
  if (!parsed.values.help) return parsed;
  process.stdout.write(help);
  return undefined;
}

function noPositionals(command: string, positionals: string[]): void {
  if (positionals.length > 0)
    throw new UsageError(`${command} takes no positional arguments, got "${positionals[0]}"`, command);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(TOOL_HELP);
    return;
  }
  if (command === 'train') {
    const parsed = commandLine(command, rest, TRAIN_OPTIONS, TRAIN_HELP);
    if (!parsed) return;
    noPositionals(command, parsed.positionals);
    const { runTrain } = await import('./cli-train.js');
    await runTrain(parseTrainArgs(parsed.values));
    return;
  }
  if (command === 'generate') {
    const parsed = commandLine(command, rest, GENERATE_OPTIONS, GENERATE_HELP);
    if (!parsed) return;
    noPositionals(command, parsed.positionals);
    const args = parseFlags(generateArgsSchema, parsed.values, { command, separator: '\n' });
    const { runGenerate } = await import('./cli-generate.js');
    await runGenerate(args);
    return;
  }
  if (command === 'inspect') {
    const parsed = commandLine(command, rest, [], INSPECT_HELP);
    if (!parsed) return;
    if (parsed.positionals.length !== 1) {
      throw new UsageError(
        `inspect needs exactly one generator directory, got ${parsed.positionals.length}`,
        command,
      );
    }
    const { runInspect } = await import('./cli-inspect.js');
    await runInspect(parsed.positionals[0]!);
    return;
  }
  throw new UsageError(`unknown command "${command}"; use train, generate or inspect`);
}

await runCli(TOOL, () => main(process.argv.slice(2)), { errorPrefix: 'error: ' });
