/**
 * A workflow's progress for people: one line per stage from the workflow's query, and a progress bar for every
 * running activity from its latest heartbeat (the same details the Temporal UI shows).
 */
import { formatProgressLine } from '@rpg/core';
import type { ActivityStatus, PipelineStatus } from './client.js';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function activityLine(a: ActivityStatus, now: number): string {
  const d = a.details ?? {};
  const stage = str(d.stage) ?? a.activity;
  const step = num(d.step) ?? 0;
  const total = num(d.total) ?? 0;
  const loss = num(d.loss);
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
        )
      : `${stage.padEnd(10)}  ${a.state}${note ? `  ${note}` : ''}`;
  return `    ${line}`;
}

/** The status as lines: workflow, then each stage, with bars for its running activities. */
export function renderStatus(status: PipelineStatus, now = Date.now()): string[] {
  const lines = [`workflow ${status.workflowId}  ${status.status}`];
  const p = status.progress;
  if (!p) {
    // Without the query, the heartbeats of running activities are still worth showing.
    lines.push(
      `  (no worker on rpg-cpu answered the progress query${status.queryError ? `: ${status.queryError}` : ''})`,
    );
    for (const a of status.activities) lines.push(activityLine(a, now));
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
    if (name === running) for (const a of status.activities) lines.push(activityLine(a, now));
  }
  if (!running) for (const a of status.activities) lines.push(activityLine(a, now));
  if (p.resumeRef) lines.push(`  last training checkpoint: ${p.resumeRef.uri}`);
  return lines;
}
