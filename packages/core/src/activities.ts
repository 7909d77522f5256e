/**
 * What every package's Temporal activities share: input validation that fails for good on a bad field,
 * heartbeats that carry stage progress and the latest durable resume checkpoint, cancellation, and the line
 * between failures worth retrying and failures that will fail the same way again.
 *
 * The only module of this package that imports Temporal; the library (`src/index.ts`) stays free of it.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import type { ArtifactStore } from './artifact-store.js';
import { InputError } from './input-error.js';
import { ArtifactRef } from './manifest.js';
import type { ProgressEvent, ProgressSink } from './progress.js';

/** Heartbeat details of a stage activity, as the Temporal UI and `rpg status` show them. */
export const stageHeartbeatSchema = z.object({
  stage: z.string(),
  step: z.number(),
  total: z.number(),
  loss: z.number().optional(),
  note: z.string().optional(),
  /** The step this attempt started from (after a resume, the resumed step): its rate gives the time left. */
  startStep: z.number().optional(),
  /** The latest resume checkpoint, set only once it is durably stored: a retry continues from it. */
  resumeRef: ArtifactRef.optional(),
});
export type StageHeartbeat = z.infer<typeof stageHeartbeatSchema>;

/** The failure type of bad activity input (Temporal never retries it). */
export const INVALID_INPUT = 'InvalidInput';

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((i) => `field "${i.path.join('.') || '(input)'}": ${i.message}`).join('; ');
}

/** Parses an activity's input; a bad field becomes a non-retryable failure that names it. */
export function parseActivityInput<S extends z.ZodType>(
  activity: string,
  schema: S,
  input: unknown,
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw ApplicationFailure.nonRetryable(
    `${activity}: invalid input: ${describeIssues(parsed.error.issues)}`,
    INVALID_INPUT,
  );
}

/**
 * Maps an error thrown by a stage to what Temporal should do with it: cancellation passes through, input errors
 * (a {@link InputError}: bad config field, missing or corrupt artifact, unreadable file) become non-retryable
 * failures of the error's `name` naming the field or file, anything else (out of memory, a full disk, a flaky
 * mount) stays retryable.
 */
export function toActivityFailure(activity: string, err: unknown): unknown {
  if (err instanceof CancelledFailure || err instanceof ApplicationFailure) return err;
  if (!(err instanceof Error)) return err;
  if (err instanceof z.ZodError) {
    return ApplicationFailure.nonRetryable(
      `${activity}: invalid input: ${describeIssues(err.issues)}`,
      INVALID_INPUT,
    );
  }
  if (err instanceof InputError) {
    return ApplicationFailure.create({
      message: `${activity}: ${err.message}`,
      type: err.name,
      nonRetryable: true,
      cause: err,
    });
  }
  return err;
}

export interface StageActivityContext {
  /** Feeds heartbeats (and the optional echo); throws once the activity is cancelled, so any stage that reports
   * progress stops at its next report even if it takes no signal. */
  progress: ProgressSink;
  /** Aborted when Temporal cancels the activity (or the worker shuts down). */
  signal: AbortSignal;
  /** The last heartbeat of the previous attempt, when this is a retry that got that far. */
  previous: StageHeartbeat | undefined;
  /** Attempt number, from 1. */
  attempt: number;
  /** Records a durably stored resume checkpoint: heartbeats it at once so a retry continues from it. */
  checkpoint(ref: ArtifactRef, step: number, loss: number): void;
}

export interface StageActivityOptions {
  /** Also receives every progress event (a worker's terminal, a test's recorder). */
  echo?: ProgressSink | undefined;
  /**
   * A signal of the calling workflow to send after each durable checkpoint (`{ step, total, loss, resumeRef }`), so
   * its progress query knows the latest one. Best effort: a failed signal does not fail the stage.
   */
  checkpointSignal?: string | undefined;
}

/**
 * Runs one stage inside the current activity: heartbeats once at the start (so a slow load counts as alive),
 * then on every progress event (Temporal throttles what it sends), keeping the latest `resumeRef` in every
 * heartbeat. Errors are mapped with {@link toActivityFailure}.
 */
export async function runStageActivity<T>(
  activity: string,
  stage: string,
  fn: (ctx: StageActivityContext) => Promise<T>,
  options: StageActivityOptions = {},
): Promise<T> {
  const context = Context.current();
  const { info } = context;
  const prior = stageHeartbeatSchema.safeParse(info.heartbeatDetails);
  const previous = prior.success ? prior.data : undefined;
  const signal = context.cancellationSignal;
  // A retry that dies before its first checkpoint must still hand the previous one on.
  let last: StageHeartbeat = {
    stage,
    step: 0,
    total: 0,
    ...(previous?.resumeRef ? { resumeRef: previous.resumeRef } : {}),
  };
  context.heartbeat(last);
  // The first event of a stage comes after its first step of this attempt: the one before it is where it started.
  let startedStage: string | undefined;
  let startStep = 0;
  const progress: ProgressSink = (event: ProgressEvent) => {
    signal.throwIfAborted();
    if (event.stage !== startedStage) {
      startedStage = event.stage;
      startStep = Math.max(0, event.step - 1);
    }
    last = {
      stage: event.stage,
      step: event.step,
      total: event.total,
      startStep,
      ...(event.loss === undefined ? {} : { loss: event.loss }),
      ...(event.note === undefined ? {} : { note: event.note }),
      ...(last.resumeRef ? { resumeRef: last.resumeRef } : {}),
    };
    context.heartbeat(last);
    options.echo?.(event);
  };
  try {
    return await fn({
      progress,
      signal,
      previous,
      attempt: info.attempt,
      checkpoint(ref, step, loss) {
        last = { ...last, step, ...(Number.isFinite(loss) ? { loss } : {}), resumeRef: ref };
        context.heartbeat(last);
        const run = info.workflowExecution;
        if (options.checkpointSignal && run) {
          const { total } = last;
          context.client.workflow
            .getHandle(run.workflowId, run.runId)
            .signal(options.checkpointSignal, { step, total, loss: last.loss, resumeRef: ref })
            .catch((err: unknown) => context.log.warn(`checkpoint signal failed: ${(err as Error).message}`));
        }
      },
    });
  } catch (err) {
    throw toActivityFailure(activity, err);
  }
}

/** What a package's activities are created with. */
export interface StageActivitiesOptions {
  store: ArtifactStore;
  /** Also receives every progress event (e.g. the worker's terminal). */
  echo?: ProgressSink | undefined;
}

/** The context a stage's job gets inside an activity: the store, the heartbeating progress sink, cancellation. */
export interface StageJobContext {
  store: ArtifactStore;
  progress: ProgressSink;
  signal: AbortSignal;
}

/**
 * The factory of one package's stage activities over `options`. Each activity parses its input with `schema` (a
 * bad field fails for good), then runs `job` on it with {@link runStageActivity}; `job` also gets the activity's
 * own context (previous heartbeat, attempt, checkpoint), and `checkpointSignal` picks the workflow signal to send
 * after each durable checkpoint from the parsed input.
 */
export function stageActivities({ store, echo }: StageActivitiesOptions) {
  return <S extends z.ZodType, T>(
    activity: string,
    stage: string,
    schema: S,
    job: (ctx: StageJobContext, input: z.output<S>, activity: StageActivityContext) => Promise<T>,
    checkpointSignal?: (input: z.output<S>) => string | undefined,
  ): ((input: z.input<S>) => Promise<T>) => {
    return async (input) => {
      const parsed = parseActivityInput(activity, schema, input);
      return runStageActivity(
        activity,
        stage,
        (ctx) => job({ store, progress: ctx.progress, signal: ctx.signal }, parsed, ctx),
        { echo, checkpointSignal: checkpointSignal?.(parsed) },
      );
    };
  };
}
