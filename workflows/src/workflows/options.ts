import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import type { PipelineInput } from './definitions.js';

/** Timeouts, heartbeats and retries of the workflows' activities on one task queue. */
export function activityOptions(
  input: PipelineInput,
  taskQueue: string,
  startToCloseTimeout: string,
): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout,
    heartbeatTimeout: input.heartbeatTimeout ?? '2 minutes',
    retry: {
      maximumAttempts: input.maxAttempts ?? 5,
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
    },
    // A cancelled pipeline waits until its activities have stopped (training keeps its last checkpoint).
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  };
}
