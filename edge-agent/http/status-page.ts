/**
 * GET / : the agent's status page. One self-contained HTML document — CSS, script and SVG charts inline, no fonts,
 * no CDN, nothing fetched but this agent's own JSON — so it works on an air-gapped host and through an SSH tunnel.
 * The Content-Security-Policy allows only this origin and the inline code.
 */
import { STATUS_PAGE_SCRIPT } from './status-page-script.ts';

export const STATUS_PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const STATUS_PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': STATUS_PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

const STYLE = `
:root { color-scheme: light; --fg: #111827; --muted: #6b7280; --line: #e5e7eb; --ok: #15803d; --fail: #b91c1c; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #f8fafc; }
header { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; padding: 12px 20px; background: #0f172a; color: #f8fafc; }
header h1 { font-size: 18px; margin: 0 12px 0 0; }
header .meta { color: #cbd5e1; }
.pill { display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 600; font-size: 12px; }
.pill.ok { background: #dcfce7; color: var(--ok); }
.pill.fail { background: #fee2e2; color: var(--fail); }
#error { margin: 12px 20px 0; padding: 8px 12px; background: #fee2e2; color: var(--fail); border-radius: 6px; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 16px; padding: 16px 20px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card h2 { font-size: 15px; margin: 0 0 8px; display: flex; justify-content: space-between; }
.card h2 small { font-weight: normal; color: var(--muted); }
.wide { grid-column: 1 / -1; }
.chart { width: 100%; height: 170px; display: block; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .axis, .chart .empty { fill: var(--muted); font-size: 11px; }
.chart .series { fill: none; stroke-width: 2; stroke-linejoin: round; }
.chart .series.dashed { stroke-dasharray: 6 4; stroke-width: 1.5; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; color: var(--muted); font-size: 12px; margin-top: 4px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
dl.figures { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px 16px; margin: 0; }
dl.figures dt { color: var(--muted); font-size: 12px; }
dl.figures dd { margin: 0; font-size: 16px; font-weight: 600; font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; }
th { color: var(--muted); font-weight: 600; font-size: 12px; }
td.num, th.num { text-align: right; }
td.bid { color: var(--ok); } td.ask { color: var(--fail); }
td.sym { font-weight: 600; }
.muted { color: var(--muted); }
ul#readiness { list-style: none; margin: 0; padding: 0; }
ul#readiness li { padding: 3px 0; }
ul#readiness .badge { display: inline-block; min-width: 44px; text-align: center; font-size: 11px; font-weight: 700; border-radius: 4px; padding: 1px 4px; }
ul#readiness li.ok .badge { background: #dcfce7; color: var(--ok); }
ul#readiness li.fail .badge { background: #fee2e2; color: var(--fail); }
`;

const BODY = `
<header>
  <h1>tickvault agent</h1>
  <span class="meta">id <b id="agent-id">…</b></span>
  <span id="feed" class="pill">feed …</span>
  <span id="ready" class="pill">…</span>
  <span class="meta">store <span id="store">…</span></span>
  <span class="meta">updated <span id="updated">…</span></span>
</header>
<div id="error" role="alert" hidden></div>
<main>
  <section class="card wide">
    <dl class="figures">
      <div><dt>messages received</dt><dd id="received">–</dd></div>
      <div><dt>events stored (durable)</dt><dd id="stored">–</dd></div>
      <div><dt>warm files written / uploaded</dt><dd id="files">–</dd></div>
      <div><dt>feed lag</dt><dd id="lag">–</dd></div>
      <div><dt>log fsync p99</dt><dd id="fsync">–</dd></div>
      <div><dt>last snapshot</dt><dd id="snapshot">–</dd></div>
      <div><dt>hot symbols</dt><dd id="symbols-held">–</dd></div>
      <div><dt>upload backlog</dt><dd id="backlog-text">–</dd></div>
    </dl>
  </section>
  <section class="card"><h2>Ingest rate <small>messages per second</small></h2>
    <svg id="chart-ingest" class="chart" data-points="0" role="img" aria-label="Ingest rate"></svg><div class="legend" id="legend-ingest"></div></section>
  <section class="card"><h2>Tier sizes <small>hot memory, warm disk, upload backlog</small></h2>
    <svg id="chart-tiers" class="chart" data-points="0" role="img" aria-label="Tier sizes"></svg><div class="legend" id="legend-tiers"></div></section>
  <section class="card"><h2>Disk <small id="disk-text">–</small></h2>
    <svg id="chart-disk" class="chart" data-points="0" role="img" aria-label="Free disk"></svg><div class="legend" id="legend-disk"></div></section>
  <section class="card"><h2>Readiness</h2><ul id="readiness"></ul>
    <h2 style="margin-top:14px">Rejects by reason <small>last minute / since start</small></h2>
    <table id="rejects"><thead><tr><th>reason</th><th class="num">last minute</th><th class="num">total</th></tr></thead><tbody></tbody></table></section>
  <section class="card wide"><h2>Hot tier books <small id="books-count">–</small></h2>
    <table id="books"><thead><tr><th>symbol</th><th class="num">bid size</th><th class="num">bid</th><th class="num">ask</th><th class="num">ask size</th><th class="num">spread</th><th class="num">mid</th><th class="num">updated</th></tr></thead><tbody></tbody></table></section>
</main>
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tickvault agent status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${STATUS_PAGE_SCRIPT}</script>
</body>
</html>
`;

/** The page; the same bytes for every request (everything live comes from the JSON it polls). */
export function statusPageHtml(): string {
  return PAGE;
}
