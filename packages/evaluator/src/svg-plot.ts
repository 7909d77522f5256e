/**
 * Minimal SVG plotting helpers for the self-contained HTML report: linear and log scales with round ticks,
 * axes, markers. Everything returns SVG markup strings; nothing is fetched from anywhere.
 */

export const SVG_NS = 'http://www.w3.org/2000/svg';

export function esc(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** A number for SVG attributes: two decimals, no exponent. */
export function px(v: number): string {
  return (Math.round(v * 100) / 100).toString();
}

export interface Scale {
  (v: number): number;
  domain: [number, number];
  ticks: number[];
  format: (v: number) => string;
}

/** Round tick step (1, 2, 5 × 10^k) giving about `count` ticks over [lo, hi]. */
export function niceStep(lo: number, hi: number, count: number): number {
  const span = Math.max(hi - lo, 1e-12);
  const raw = span / Math.max(count, 1);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const m = raw / pow;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * pow;
}

/** Linear scale over [lo, hi] extended to round ticks, mapped to pixel range [p0, p1]. */
export function linearScale(lo: number, hi: number, p0: number, p1: number, tickCount = 6): Scale {
  if (hi - lo < 1e-9) {
    const pad = Math.max(Math.abs(hi) * 0.01, 0.01);
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(lo, hi, tickCount);
  const d0 = Math.floor(lo / step + 1e-9) * step;
  const d1 = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let t = d0; t <= d1 + step * 1e-6; t += step) ticks.push(Number(t.toFixed(12)));
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const f = (v: number) => p0 + ((v - d0) / (d1 - d0)) * (p1 - p0);
  return Object.assign(f, {
    domain: [d0, d1] as [number, number],
    ticks,
    format: (v: number) => v.toFixed(decimals),
  });
}

/** Log10 scale over positive [lo, hi] extended to powers of ten. */
export function logScale(lo: number, hi: number, p0: number, p1: number): Scale {
  let e0 = Math.floor(Math.log10(lo));
  let e1 = Math.ceil(Math.log10(hi));
  if (e1 === e0) e1 = e0 + 1;
  if (e1 - e0 > 12) e0 = e1 - 12;
  const ticks: number[] = [];
  for (let e = e0; e <= e1; e++) ticks.push(10 ** e);
  const f = (v: number) => p0 + ((Math.log10(v) - e0) / (e1 - e0)) * (p1 - p0);
  const format = (v: number) => {
    const e = Math.round(Math.log10(v));
    return e >= -2 && e <= 3 ? String(Number(v.toPrecision(1))) : `1e${e}`;
  };
  return Object.assign(f, { domain: [10 ** e0, 10 ** e1] as [number, number], ticks, format });
}

export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export function svgOpen(frame: Frame, title: string): string {
  return (
    `<svg xmlns="${SVG_NS}" width="${frame.width}" height="${frame.height}" viewBox="0 0 ${frame.width} ${frame.height}" ` +
    `role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>`
  );
}

/** Horizontal axis at the bottom of the plot area, with grid lines and a label. */
export function xAxis(frame: Frame, x: Scale, label: string): string {
  const y0 = frame.height - frame.bottom;
  const parts = [
    `<line class="axis" x1="${frame.left}" y1="${y0}" x2="${frame.width - frame.right}" y2="${y0}"/>`,
  ];
  for (const t of x.ticks) {
    const xp = px(x(t));
    parts.push(
      `<line class="grid" x1="${xp}" y1="${frame.top}" x2="${xp}" y2="${y0}"/>`,
      `<text class="tick" x="${xp}" y="${y0 + 16}" text-anchor="middle">${esc(x.format(t))}</text>`,
    );
  }
  const mid = (frame.left + frame.width - frame.right) / 2;
  parts.push(
    `<text class="label" x="${px(mid)}" y="${frame.height - 6}" text-anchor="middle">${esc(label)}</text>`,
  );
  return parts.join('');
}

/** Vertical axis at the left of the plot area, with grid lines and a rotated label. */
export function yAxis(frame: Frame, y: Scale, label: string): string {
  const x0 = frame.left;
  const parts = [
    `<line class="axis" x1="${x0}" y1="${frame.top}" x2="${x0}" y2="${frame.height - frame.bottom}"/>`,
  ];
  for (const t of y.ticks) {
    const yp = px(y(t));
    parts.push(
      `<line class="grid" x1="${x0}" y1="${yp}" x2="${frame.width - frame.right}" y2="${yp}"/>`,
      `<text class="tick" x="${x0 - 6}" y="${yp}" dy="0.32em" text-anchor="end">${esc(y.format(t))}</text>`,
    );
  }
  const mid = (frame.top + frame.height - frame.bottom) / 2;
  parts.push(
    `<text class="label" transform="translate(14 ${px(mid)}) rotate(-90)" text-anchor="middle">${esc(label)}</text>`,
  );
  return parts.join('');
}

/** A marker: circle (filled or hollow), or a triangle pointing left/down for values clipped off the axis. */
export function marker(
  shape: 'dot' | 'ring' | 'left' | 'down',
  cx: number,
  cy: number,
  r: number,
  color: string,
  tip?: string,
): string {
  const title = tip ? `<title>${esc(tip)}</title>` : '';
  const close = title ? `>${title}</` : '/>';
  const end = (tag: string) => (title ? `${close}${tag}>` : close);
  switch (shape) {
    case 'dot':
      return `<circle cx="${px(cx)}" cy="${px(cy)}" r="${r}" fill="${color}" fill-opacity="0.75"${end('circle')}`;
    case 'ring':
      return `<circle cx="${px(cx)}" cy="${px(cy)}" r="${r}" fill="none" stroke="${color}" stroke-width="1.5"${end('circle')}`;
    case 'left':
      return `<path d="M${px(cx - r)} ${px(cy)}L${px(cx + r)} ${px(cy - r)}L${px(cx + r)} ${px(cy + r)}Z" fill="${color}"${end('path')}`;
    case 'down':
      return `<path d="M${px(cx)} ${px(cy + r)}L${px(cx - r)} ${px(cy - r)}L${px(cx + r)} ${px(cy - r)}Z" fill="${color}"${end('path')}`;
  }
}

/** A deterministic jitter in [-1, 1] for index i (golden-ratio sequence), so re-renders are identical. */
export function jitter(i: number): number {
  const v = (i * 0.6180339887498949 + 0.5) % 1;
  return v * 2 - 1;
}
