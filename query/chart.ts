/**
 * The price and volume chart of `--plot`: one symbol's OHLCV bars over the range, drawn as a small scene of
 * rectangles, lines and text that two back ends render: SVG (inside a self-contained HTML page: no script, no
 * network) and PNG (chart-png.ts, pure JavaScript). Candles when there are few enough bars to see, else a close
 * line over a high-low band; volume bars below; UTC time axis.
 */
import { formatNs } from '../core/time.ts';

export interface ChartBar {
  readonly tsNs: bigint;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
}

export interface ChartMeta {
  readonly symbol: string;
  readonly fromNs: bigint;
  readonly toNs: bigint;
  /** Bar interval in nanoseconds (for candle widths and the title). */
  readonly intervalNs: bigint;
  readonly intervalName: string;
}

export type Color = readonly [number, number, number];

export type Shape =
  | { readonly kind: 'rect'; readonly x: number; readonly y: number; readonly w: number; readonly h: number; readonly fill: Color }
  | { readonly kind: 'line'; readonly points: readonly (readonly [number, number])[]; readonly stroke: Color; readonly width: number }
  | { readonly kind: 'text'; readonly x: number; readonly y: number; readonly text: string; readonly size: number; readonly fill: Color; readonly anchor: 'start' | 'middle' | 'end' };

export interface Scene {
  readonly width: number;
  readonly height: number;
  readonly background: Color;
  readonly shapes: readonly Shape[];
}

const WIDTH = 1000;
const HEIGHT = 600;
const PLOT = { left: 80, right: 980, priceTop: 50, priceBottom: 410, volumeTop: 440, volumeBottom: 555 };
const INK: Color = [33, 37, 41];
const MUTED: Color = [108, 117, 125];
const GRID: Color = [226, 230, 234];
const UP: Color = [26, 152, 80];
const DOWN: Color = [215, 48, 39];
const LINE: Color = [31, 119, 180];
const BAND: Color = [198, 219, 239];
const VOLUME_UP: Color = [161, 217, 155];
const VOLUME_DOWN: Color = [252, 174, 145];
/** Above this many bars candles would be thinner than a pixel or two: a line is drawn instead. */
const MAX_CANDLES = 240;

/** Round tick values covering [lo, hi], about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function formatPrice(value: number, step: number): string {
  const decimals = Math.min(8, Math.max(0, -Math.floor(Math.log10(step)) + (step / 10 ** Math.floor(Math.log10(step)) === 2.5 ? 1 : 0)));
  return value.toFixed(decimals);
}

/** A price as quoted: cents for ordinary prices, more digits for small ones (crypto pairs, FX). */
function formatQuote(value: number): string {
  return Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(4);
}

function formatVolume(value: number): string {
  if (value >= 1e9) return `${(value / 1e9).toFixed(1)}G`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}K`;
  return value.toFixed(value < 10 ? 2 : 0);
}

/** A time label: clock time within one day, date and time across days, dates across weeks. */
function formatTime(tsNs: bigint, spanNs: bigint): string {
  const iso = formatNs(tsNs);
  const day = 86_400_000_000_000n;
  if (spanNs <= day) return spanNs < 600_000_000_000n ? iso.slice(11, 19) : iso.slice(11, 16);
  if (spanNs <= 7n * day) return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  return iso.slice(0, 10);
}

const SECOND = 1_000_000_000n;
/** Steps the time axis may use: round clock times. */
const TIME_STEPS = [1n, 5n, 10n, 15n, 30n, 60n, 300n, 600n, 900n, 1800n, 3600n, 7200n, 10800n, 21600n, 43200n, 86400n, 172800n, 604800n, 2592000n].map((s) => s * SECOND);

/** Round instants (UTC) inside [fromNs, toNs], at most about 8 of them. */
export function timeTicks(fromNs: bigint, toNs: bigint): bigint[] {
  const span = toNs - fromNs;
  const step = TIME_STEPS.find((s) => span / s <= 8n) ?? span;
  const ticks: bigint[] = [];
  for (let t = fromNs % step === 0n ? fromNs : fromNs - (fromNs % step) + step; t <= toNs; t += step) ticks.push(t);
  return ticks;
}

/** The chart of a symbol's bars. */
export function buildChart(bars: readonly ChartBar[], meta: ChartMeta): Scene {
  const shapes: Shape[] = [];
  const text = (x: number, y: number, t: string, size: number, fill: Color, anchor: 'start' | 'middle' | 'end' = 'start'): void => {
    shapes.push({ kind: 'text', x, y, text: t, size, fill, anchor });
  };
  const span = meta.toNs - meta.fromNs;
  const xOf = (ns: bigint): number => PLOT.left + (Number(ns - meta.fromNs) / Number(span)) * (PLOT.right - PLOT.left);
  const title = `${meta.symbol}  ${formatNs(meta.fromNs).slice(0, 19).replace('T', ' ')} - ${formatNs(meta.toNs).slice(0, 19).replace('T', ' ')} UTC  (${meta.intervalName} bars)`;
  text(PLOT.left, 28, title, 16, INK);

  if (bars.length === 0) {
    text((PLOT.left + PLOT.right) / 2, (PLOT.priceTop + PLOT.priceBottom) / 2, 'no trades in this range', 16, MUTED, 'middle');
    return { width: WIDTH, height: HEIGHT, background: [255, 255, 255], shapes };
  }
  const lo = Math.min(...bars.map((b) => b.low));
  const hi = Math.max(...bars.map((b) => b.high));
  const pad = hi > lo ? (hi - lo) * 0.05 : Math.max(Math.abs(hi) * 0.001, 0.01);
  const pLo = lo - pad;
  const pHi = hi + pad;
  const yOf = (p: number): number => PLOT.priceBottom - ((p - pLo) / (pHi - pLo)) * (PLOT.priceBottom - PLOT.priceTop);
  const maxVolume = Math.max(...bars.map((b) => b.volume), 0);
  const vOf = (v: number): number => (maxVolume > 0 ? (v / maxVolume) * (PLOT.volumeBottom - PLOT.volumeTop) : 0);

  // Grid and price axis.
  const ticks = niceTicks(pLo, pHi);
  const step = ticks.length > 1 ? (ticks[1] as number) - (ticks[0] as number) : 1;
  for (const t of ticks) {
    const y = yOf(t);
    shapes.push({ kind: 'line', points: [[PLOT.left, y], [PLOT.right, y]], stroke: GRID, width: 1 });
    text(PLOT.left - 8, y + 4, formatPrice(t, step), 12, MUTED, 'end');
  }
  for (const ns of timeTicks(meta.fromNs, meta.toNs)) {
    const x = xOf(ns);
    shapes.push({ kind: 'line', points: [[x, PLOT.priceTop], [x, PLOT.volumeBottom]], stroke: GRID, width: 1 });
    text(x, PLOT.volumeBottom + 20, formatTime(ns, span), 12, MUTED, x - PLOT.left < 30 ? 'start' : PLOT.right - x < 30 ? 'end' : 'middle');
  }

  // Volume.
  const slot = (Number(meta.intervalNs) / Number(span)) * (PLOT.right - PLOT.left);
  const barWidth = Math.max(1, slot * 0.7);
  for (const b of bars) {
    const h = vOf(b.volume);
    const x = xOf(b.tsNs) + slot / 2 - barWidth / 2;
    shapes.push({ kind: 'rect', x, y: PLOT.volumeBottom - h, w: barWidth, h, fill: b.close >= b.open ? VOLUME_UP : VOLUME_DOWN });
  }
  text(PLOT.left - 8, PLOT.volumeTop + 10, formatVolume(maxVolume), 12, MUTED, 'end');
  text(PLOT.left - 8, PLOT.volumeBottom, '0', 12, MUTED, 'end');
  text(PLOT.left, PLOT.volumeTop - 8, 'Volume', 12, MUTED);

  // Price.
  if (bars.length <= MAX_CANDLES) {
    for (const b of bars) {
      const cx = xOf(b.tsNs) + slot / 2;
      const color = b.close >= b.open ? UP : DOWN;
      shapes.push({ kind: 'line', points: [[cx, yOf(b.high)], [cx, yOf(b.low)]], stroke: color, width: 1 });
      const top = yOf(Math.max(b.open, b.close));
      const height = Math.max(1, yOf(Math.min(b.open, b.close)) - top);
      shapes.push({ kind: 'rect', x: cx - barWidth / 2, y: top, w: barWidth, h: height, fill: color });
    }
  } else {
    for (const b of bars) {
      const x = xOf(b.tsNs);
      shapes.push({ kind: 'rect', x, y: yOf(b.high), w: Math.max(1, slot), h: Math.max(1, yOf(b.low) - yOf(b.high)), fill: BAND });
    }
    shapes.push({ kind: 'line', points: bars.map((b) => [xOf(b.tsNs) + slot / 2, yOf(b.close)] as const), stroke: LINE, width: 1.5 });
  }
  const last = bars.at(-1) as ChartBar;
  const first = bars[0] as ChartBar;
  const change = first.open === 0 ? 0 : ((last.close - first.open) / first.open) * 100;
  text(PLOT.right - 4, PLOT.priceTop + 14, `last ${formatQuote(last.close)}  (${change >= 0 ? '+' : ''}${change.toFixed(2)}%)`, 12, change >= 0 ? UP : DOWN, 'end');
  text(PLOT.left + 4, PLOT.priceTop + 14, `Price  high ${formatQuote(hi)}  low ${formatQuote(lo)}`, 12, MUTED);
  // Frames.
  for (const [top, bottom] of [[PLOT.priceTop, PLOT.priceBottom], [PLOT.volumeTop, PLOT.volumeBottom]] as const) {
    shapes.push({ kind: 'line', points: [[PLOT.left, top], [PLOT.right, top], [PLOT.right, bottom], [PLOT.left, bottom], [PLOT.left, top]], stroke: MUTED, width: 1 });
  }
  return { width: WIDTH, height: HEIGHT, background: [255, 255, 255], shapes };
}

const rgb = (c: Color): string => `rgb(${c[0]},${c[1]},${c[2]})`;
const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const n = (v: number): string => String(Math.round(v * 10) / 10);

/** The scene as a standalone SVG element. */
export function sceneToSvg(scene: Scene): string {
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${scene.width}" height="${scene.height}" viewBox="0 0 ${scene.width} ${scene.height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect x="0" y="0" width="${scene.width}" height="${scene.height}" fill="${rgb(scene.background)}"/>`,
  ];
  for (const s of scene.shapes) {
    if (s.kind === 'rect') out.push(`<rect x="${n(s.x)}" y="${n(s.y)}" width="${n(s.w)}" height="${n(s.h)}" fill="${rgb(s.fill)}"/>`);
    else if (s.kind === 'line') out.push(`<polyline points="${s.points.map(([x, y]) => `${n(x)},${n(y)}`).join(' ')}" fill="none" stroke="${rgb(s.stroke)}" stroke-width="${s.width}"/>`);
    else out.push(`<text x="${n(s.x)}" y="${n(s.y)}" font-size="${s.size}" fill="${rgb(s.fill)}" text-anchor="${s.anchor}">${escapeXml(s.text)}</text>`);
  }
  out.push('</svg>');
  return out.join('\n');
}

/** A self-contained HTML page holding the chart: inline SVG, no script, nothing fetched. */
export function chartHtml(scene: Scene, title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${escapeXml(title)}</title>
<style>body{margin:16px;background:#f8f9fa;font-family:Helvetica,Arial,sans-serif}svg{background:#fff;border:1px solid #dee2e6;max-width:100%;height:auto}</style>
</head>
<body>
${sceneToSvg(scene)}
</body>
</html>
`;
}
