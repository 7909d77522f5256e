/**
 * Client side of the pipeline: connect from the environment, start or attach to a run (one workflow per config),
 * read its progress (the workflow's query plus the live heartbeats of its running activities), cancel it.
 */
import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { connectTo, type TemporalSettings } from './temporal-settings.js';
import {
  CPU_QUEUE,
  type PipelineInput,
  type PipelineResult,
  type ProgressView,
  progressQuery,
  type UnseenPipelineResult,
  WORKFLOW_TYPE,
} from './workflows/definitions.js';

export { TemporalUnreachableError } from './temporal-settings.js';

export async function connectClient(settings: TemporalSettings): Promise<Client> {
  const connection = await connectTo(settings, (options) => Connection.connect(options));
  return new Client({ connection, namespace: settings.namespace });
}

/** The result of either workflow (they share `name` and `reportDir`). */
export type WorkflowResult = PipelineResult | UnseenPipelineResult;

/** A handle on a workflow that takes a {@link PipelineInput}. */
export type PipelineHandle<R extends WorkflowResult = PipelineResult> = WorkflowHandle<
  (input: PipelineInput) => Promise<R>
>;

export interface StartedPipeline<R extends WorkflowResult = PipelineResult> {
  handle: PipelineHandle<R>;
  workflowId: string;
  /** The run the handle follows. */
  runId: string;
  /** What the id named before this call: nothing (a new run), a running run (attached) or a finished one. */
  found: 'new' | 'running' | 'completed' | 'restarted';
}

/**
 * Starts the pipeline for a config under `workflowId`, or attaches: a running workflow with that id is used as it
 * is (conflict policy USE_EXISTING) and a completed one is returned, not re-run (reuse policy
 * ALLOW_DUPLICATE_FAILED_ONLY); a failed, cancelled or terminated one is started again, and its finished stages
 * come from the artifact store.
 */
export async function startPipeline<R extends WorkflowResult = PipelineResult>(
  client: Client,
  workflowId: string,
  input: PipelineInput,
  workflowType: string = WORKFLOW_TYPE,
): Promise<StartedPipeline<R>> {
  const before = await client.workflow
    .getHandle(workflowId)
    .describe()
    .then((d) => d.status.name)
    .catch(() => undefined);
  try {
    const handle = await client.workflow.start<(input: PipelineInput) => Promise<R>>(workflowType, {
      taskQueue: CPU_QUEUE,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
    });
    const found = before === undefined ? 'new' : before === 'RUNNING' ? 'running' : 'restarted';
    return { handle, workflowId, runId: handle.firstExecutionRunId, found };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const handle: PipelineHandle<R> = client.workflow.getHandle(workflowId);
    return { handle, workflowId, runId: (await handle.describe()).runId, found: 'completed' };
  }
}

/** The heartbeat details of one running (or retrying) activity. */
export interface ActivityStatus {
  activity: string;
  attempt: number;
  state: string;
  details: Record<string, unknown> | undefined;
  /** When the current attempt started (ms since epoch). */
  startedAt?: number;
  /** When its last heartbeat reached the server (ms since epoch). */
  lastHeartbeatAt?: number;
  lastFailure?: string;
}

export interface PipelineStatus {
  workflowId: string;
  runId: string;
  status: string;
  progress: ProgressView | undefined;
  /** Why the progress query went unanswered. */
  queryError?: string;
  activities: ActivityStatus[];
}

/** A protobuf timestamp in ms since epoch (seconds may come as a Long). */
function millis(t: { seconds?: unknown; nanos?: number | null }): number {
  return Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

const STATES = ['unspecified', 'scheduled', 'started', 'cancel requested', 'paused', 'pause requested'];

/**
 * Reads the pending activities' heartbeats and the progress query. A query needs a worker on `rpg-cpu` to answer
 * it: without one it gives up after `queryTimeoutMs` and `progress` is undefined (`queryError` says why).
 */
export async function pipelineStatus(
  handle: WorkflowHandle,
  queryTimeoutMs = 10_000,
): Promise<PipelineStatus> {
  const description = await handle.describe();
  let queryError: string | undefined;
  const progress = await handle.client
    .withDeadline(Date.now() + queryTimeoutMs, () => handle.query(progressQuery))
    .catch((err: Error) => {
      queryError = err.message;
      return undefined;
    });
  const activities = (description.raw.pendingActivities ?? []).map((a): ActivityStatus => {
    const payload = a.heartbeatDetails?.payloads?.[0];
    const details = payload
      ? defaultPayloadConverter.fromPayload<Record<string, unknown>>(payload)
      : undefined;
    return {
      activity: a.activityType?.name ?? '?',
      attempt: a.attempt ?? 1,
      state: STATES[a.state ?? 0] ?? String(a.state),
      details,
      ...(a.lastStartedTime?.seconds ? { startedAt: millis(a.lastStartedTime) } : {}),
      ...(a.lastHeartbeatTime?.seconds ? { lastHeartbeatAt: millis(a.lastHeartbeatTime) } : {}),
      ...(a.lastFailure?.message ? { lastFailure: a.lastFailure.message } : {}),
    };
  });
  return {
    workflowId: description.workflowId,
    runId: description.runId,
    status: description.status.name,
    progress,
    ...(queryError ? { queryError } : {}),
    activities,
  };
}
