import { connectClient, pipelineStatus } from '../client.js';
import { DEFAULT_STALE_SECONDS, renderStatus } from '../progress-view.js';
import { completedRunVerdict } from '../run-verdict.js';
import { temporalSettings, workflowUrl } from '../temporal-settings.js';
import { commandArgs, printHelp, secondsOption, UsageError } from './common.js';

export const help = `rpg status <workflowId> [--json] [--stale-after <duration>]
    Shows a pipeline's progress: each stage's state and time, a progress bar for every running activity from
    its latest heartbeat (step, total, loss; the time left from the steps done in this attempt) with the
    heartbeat's age, the latest durable training checkpoint and the Web UI link. A running activity whose last
    heartbeat is older than --stale-after is shown as STALE (its worker may be gone) instead of as progressing.
    A completed run ends with its verdict line (match, short or failed, with the likely causes).
    --json                   the same as one JSON object
    --stale-after <d>        e.g. 30, 90s, 5m (default 60 s; 1 s to 1 day)
`;

export async function status(argv: string[]): Promise<number> {
  const { values, positionals } = commandArgs('status', argv, {
    json: { type: 'boolean' },
    'stale-after': { type: 'string' },
  });
  if (values.help) return printHelp(help);
  if (positionals.length !== 1)
    throw new UsageError('rpg status takes one workflow id (rpg start and rpg run print it)');
  const staleAfter =
    values['stale-after'] === undefined
      ? DEFAULT_STALE_SECONDS
      : secondsOption('stale-after', values['stale-after'], 1, 86_400);
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
    // A finished run ends with its verdict (from its report, where this machine can read it).
    const verdict =
      s.status === 'COMPLETED'
        ? await completedRunVerdict(client.workflow.getHandle(s.workflowId))
        : undefined;
    if (values.json) {
      process.stdout.write(`${JSON.stringify(verdict ? { ...s, verdict } : s, null, 2)}\n`);
    } else {
      process.stdout.write(`${renderStatus(s, Date.now(), staleAfter).join('\n')}\n`);
      if (verdict) process.stdout.write(`${verdict.line}\n`);
      if (settings.ui)
        process.stdout.write(`Web UI: ${workflowUrl(settings.ui, settings.namespace, s.workflowId)}\n`);
    }
  } finally {
    await client.connection.close();
  }
  return 0;
}
