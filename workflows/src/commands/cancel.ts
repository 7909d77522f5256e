import { connectClient } from '../client.js';
import { temporalSettings } from '../temporal-settings.js';
import { commandArgs, printHelp, UsageError } from './common.js';

export const help = `rpg cancel <workflowId> [--no-wait]
    Cancels a pipeline: running stages stop at their next step (training keeps its last checkpoint), and the
    workflow ends as cancelled once they have. Starting the same config again then resumes from the store.
    --no-wait   return once cancellation is requested
`;

export async function cancel(argv: string[]): Promise<number> {
  const { values, positionals } = commandArgs('cancel', argv, { 'no-wait': { type: 'boolean' } });
  if (values.help) return printHelp(help);
  if (positionals.length !== 1)
    throw new UsageError('rpg cancel takes one workflow id (rpg start and rpg run print it)');
  const settings = temporalSettings();
  const client = await connectClient(settings);
  try {
    const handle = client.workflow.getHandle(positionals[0]!);
    await handle.cancel().catch((err: Error) => {
      if (err.name === 'WorkflowNotFoundError') throw new UsageError(`no running workflow ${positionals[0]}`);
      throw err;
    });
    process.stdout.write(`cancellation requested for ${positionals[0]}\n`);
    if (!values['no-wait']) {
      await handle.result().catch(() => undefined);
      const { status } = await handle.describe();
      process.stdout.write(`workflow ${positionals[0]} is ${status.name}\n`);
    }
  } finally {
    await client.connection.close();
  }
  return 0;
}
