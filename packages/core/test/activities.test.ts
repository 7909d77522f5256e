import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseActivityInput, stageHeartbeatSchema, toActivityFailure } from '../src/activities.js';
import { ArtifactError } from '../src/artifact-ref.js';

const schema = z.object({ config: z.object({ steps: z.number().int().positive() }) });

describe('activity input and failures', () => {
  it('turns a bad input field into a non-retryable failure that names it', () => {
    let failure: unknown;
    try {
      parseActivityInput('trainGenerator', schema, { config: { steps: -3 } });
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).nonRetryable).toBe(true);
    expect((failure as ApplicationFailure).message).toMatch(
      /^trainGenerator: invalid input: field "config\.steps"/,
    );
    expect(parseActivityInput('trainGenerator', schema, { config: { steps: 3 } })).toEqual({
      config: { steps: 3 },
    });
  });

  it('does not retry a missing or corrupt artifact, and names it', () => {
    const missing = new ArtifactError('NOT_FOUND', 'no such artifact', 'store:tokens/abc');
    const mapped = toActivityFailure('tokenize', missing) as ApplicationFailure;
    expect(mapped).toBeInstanceOf(ApplicationFailure);
    expect(mapped.nonRetryable).toBe(true);
    expect(mapped.message).toContain('artifact store:tokens/abc');
    expect(mapped.type).toBe('ArtifactError');
  });

  it('leaves other errors retryable and cancellation as it is', () => {
    const disk = new Error('ENOSPC: no space left on device');
    expect(toActivityFailure('harvestRun', disk)).toBe(disk);
    const cancelled = new CancelledFailure('CANCELLED');
    expect(toActivityFailure('trainGenerator', cancelled)).toBe(cancelled);
  });

  it('reads back heartbeat details with or without a resume checkpoint', () => {
    const ref = { uri: 'store:train-state/k', sha256: 'a'.repeat(64), bytes: 10, kind: 'train-state' };
    expect(
      stageHeartbeatSchema.parse({ stage: 'train', step: 40, total: 120, loss: 0.2, resumeRef: ref })
        .resumeRef,
    ).toEqual(ref);
    expect(stageHeartbeatSchema.safeParse({ stage: 'train', step: 1 }).success).toBe(false);
  });
});
