/**
 * A workflow's progress for people: one line per stage from the workflow's query, and a progress bar for every
 * running activity from its latest heartbeat (the same details the Temporal UI shows).
 */
import { formatProgressLine } from '@rpg/core';
import type { ActivityStatus, PipelineStatus } from './client.js';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Seconds without a heartbeat after which `rpg status` marks a running activity stale (default). */
export const DEFAULT_STALE_SECONDS = 60;

function age(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')} min`;
}

function activityLine(a: ActivityStatus, now: number, staleAfter: number): string {
  const d = a.details ?? {};
  const stage = str(d.stage) ?? a.activity;
  const step = num(d.step) ?? 0;
  const total = num(d.total) ?? 0;
  const loss = num(d.loss);
  const beat = a.lastHeartbeatAt ?? a.startedAt;
  const silent = beat === undefined ? undefined : Math.max(0, (now - beat) / 1000);
  if (a.state === 'started' && silent !== undefined && silent > staleAfter) {
    // Its worker may be gone: elapsed time and ETA would only keep counting until Temporal retries it.
    return `    ${stage.padEnd(10)}  STALE: no heartbeat for ${age(silent)} (last at step ${step}/${total}); its worker may be gone, Temporal retries it once the heartbeat timeout passes`;
  }
  const note = [
    str(d.note),
    a.attempt > 1 ? `attempt ${a.attempt}` : undefined,
    a.lastFailure && a.state === 'scheduled' ? `retrying after: ${a.lastFailure}` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  const elapsed = a.startedAt ? (now - a.startedAt) / 1000 : 0;
  const line =
    total > 0
      ? formatProgressLine(
          { stage, step, total, ...(loss === undefined ? {} : { loss }), ...(note ? { note } : {}) },
          elapsed,
          24,
          num(d.startStep) ?? 0,
        )
      : `${stage.padEnd(10)}  ${a.state}${note ? `  ${note}` : ''}`;
  const heartbeat = a.state === 'started' && silent !== undefined ? `  (heartbeat ${age(silent)} ago)` : '';
  return `    ${line}${heartbeat}`;
}

/** The status as lines: workflow, then each stage, with bars for its running activities. */
export function renderStatus(
  status: PipelineStatus,
  now = Date.now(),
  staleAfter = DEFAULT_STALE_SECONDS,
): string[] {
  const lines = [`workflow ${status.workflowId}  ${status.status}`];
  const p = status.progress;
  if (!p) {
    // Without the query, the heartbeats of running activities are still worth showing.
    lines.push(
      `  (no worker on rpg-cpu answered the progress query${status.queryError ? `: ${status.queryError}` : ''})`,
    );
    for (const a of status.activities) lines.push(activityLine(a, now, staleAfter));
    return lines;
  }
  // Stages run one after another, so every pending activity belongs to the running stage.
  const running = p.stages[p.stage] ? p.stage : undefined;
  const width = Math.max(10, ...Object.keys(p.stages).map((n) => n.length));
  for (const [name, s] of Object.entries(p.stages)) {
    const parts = [`  ${name.padEnd(width)}`, s.status.padEnd(8)];
    if (s.total > 1 && s.status !== 'skipped')
      parts.push(`${s.done}/${s.total}${name === 'train' && s.status !== 'done' ? ' (durable)' : ''}`);
    if (s.seconds !== undefined) parts.push(`${s.seconds.toFixed(1)} s`);
    if (name === 'train' && p.loss !== undefined) parts.push(`loss ${p.loss.toPrecision(4)}`);
    lines.push(parts.join('  '));
    if (name === running) for (const a of status.activities) lines.push(activityLine(a, now, staleAfter));
  }
  if (!running) for (const a of status.activities) lines.push(activityLine(a, now, staleAfter));
  if (p.resumeRef) lines.push(`  last training checkpoint: ${p.resumeRef.uri}`);
  return lines;
}
