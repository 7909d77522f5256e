/**
 * Progress events are plain data so the same library function can feed a terminal bar (CLI), a Temporal
 * heartbeat (activity) or nothing (tests).
 */
export interface ProgressEvent {
  stage: string;
  step: number;
  total: number;
  loss?: number;
  /** Free-form short text, e.g. 'run 2/5'. */
  note?: string;
}

export type ProgressSink = (event: ProgressEvent) => void;

export const silentProgress: ProgressSink = () => {};

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return m >= 60
    ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
    : `${m}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * One line of a progress bar: `train  [#####.....]  50/100  50%  loss 0.0312  0:12<0:12`. `fromStep` is the step
 * the elapsed time started at (a run resumed at step 400 has done only step − 400 steps in `elapsedSeconds`), so
 * the time left is estimated from this attempt's own rate.
 */
export function formatProgressLine(
  event: ProgressEvent,
  elapsedSeconds: number,
  width = 24,
  fromStep = 0,
): string {
  const fraction = event.total > 0 ? Math.min(1, event.step / event.total) : 0;
  const filled = Math.round(fraction * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  const done = event.step - fromStep;
  const eta = done > 0 ? (elapsedSeconds * Math.max(0, event.total - event.step)) / done : Number.NaN;
  const parts = [
    event.stage.padEnd(10),
    `[${bar}]`,
    `${event.step}/${event.total}`,
    `${Math.floor(fraction * 100)}%`.padStart(4),
  ];
  if (event.loss !== undefined) parts.push(`loss ${event.loss.toPrecision(4)}`);
  if (event.note) parts.push(event.note);
  parts.push(`${formatDuration(elapsedSeconds)}<${formatDuration(eta)}`);
  return parts.join('  ');
}

/**
 * A terminal progress bar on stderr: redrawn in place on a TTY, else one line every `intervalMs`
 * (so logs in CI stay short) and always at the end of a stage.
 */
export function terminalProgress(
  stream: NodeJS.WriteStream = process.stderr,
  intervalMs = 5000,
): ProgressSink {
  // Per stage, when and at which step its first event came: a resumed run starts counting there.
  const started = new Map<string, { at: number; step: number }>();
  let lastPrint = 0;
  return (event) => {
    const now = Date.now();
    if (!started.has(event.stage)) started.set(event.stage, { at: now, step: event.step });
    const first = started.get(event.stage)!;
    const elapsed = (now - first.at) / 1000;
    const line = formatProgressLine(event, elapsed, 24, first.step);
    const finished = event.step >= event.total;
    if (stream.isTTY) {
      stream.write(`\r${line}\x1b[K${finished ? '\n' : ''}`);
    } else if (finished || now - lastPrint >= intervalMs) {
      stream.write(`${line}\n`);
      lastPrint = now;
    }
  };
}
