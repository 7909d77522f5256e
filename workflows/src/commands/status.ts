import { parseArgs } from 'node:util';
import { connectClient, pipelineStatus } from '../client.js';
import { renderStatus } from '../progress-view.js';
import { temporalSettings, workflowUrl } from '../temporal-settings.js';
import { HELP_OPTION, parseCommand, UsageError } from './common.js';

export const help = `rpg status <workflowId> [--json]
    Shows a pipeline's progress: each stage's state and time, a progress bar for every running activity from
    its latest heartbeat (step, total, loss), the latest durable training checkpoint and the Web UI link.
    --json   the same as one JSON object
`;

export async function status(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand('status', () =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { json: { type: 'boolean' }, ...HELP_OPTION },
    }),
  );
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError('rpg status takes one workflow id (rpg start and rpg run print it)');
  const settings = temporalSettings();
  const client = await connectClient(settings);
  try {
    const s = await pipelineStatus(client.workflow.getHandle(positionals[0]!)).catch((err: Error) => {
      if (err.name === 'WorkflowNotFoundError')
        throw new UsageError(
          `no workflow ${positionals[0]} in namespace ${settings.namespace} at ${settings.address}`,
        );
      throw err;
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    } else {
      process.stdout.write(`${renderStatus(s).join('\n')}\n`);
      if (settings.ui)
        process.stdout.write(`Web UI: ${workflowUrl(settings.ui, settings.namespace, s.workflowId)}\n`);
    }
  } finally {
    await client.connection.close();
  }
  return 0;
}
