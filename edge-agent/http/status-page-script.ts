/**
 * The status page's script, inlined into the page (no bundler, no CDN, no network but this agent). Plain browser
 * JavaScript kept in a string: the repository's TypeScript has no DOM types, and the page must work as served.
 *
 * Every second it reads /v1/status and redraws: ingest rate (from the received counter's change between two
 * readings), tier sizes, free disk, recent rejects by reason, readiness; and /v1/symbols with /v1/book/:symbol for
 * the books table. Charts are SVG polylines over the last five minutes. Text goes in with textContent only.
 */
export const STATUS_PAGE_SCRIPT = String.raw`
(() => {
  'use strict';
  const HISTORY = 300;
  const MAX_BOOKS = 25;
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const history = { received: [], rejected: [], hot: [], warm: [], backlog: [], diskFree: [], diskWarn: [] };
  const rejectWindow = [];
  let previous;

  const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  function bytes(n) {
    if (n === null || n === undefined || !Number.isFinite(n)) return '–';
    let i = 0;
    let v = n;
    while (Math.abs(v) >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + UNITS[i];
  }
  function count(n) {
    if (n === null || n === undefined || !Number.isFinite(n)) return '–';
    if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(2) + 'M';
    if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    if (Number.isInteger(n)) return String(n);
    return Math.abs(n) < 10 ? String(Number(n.toPrecision(3))) : n.toFixed(1);
  }
  function seconds(s) {
    if (s === null || s === undefined || !Number.isFinite(s)) return '–';
    if (Math.abs(s) < 1) return Math.round(s * 1000) + ' ms';
    if (Math.abs(s) < 120) return s.toFixed(1) + ' s';
    if (Math.abs(s) < 7200) return Math.round(s / 60) + ' min';
    return (s / 3600).toFixed(1) + ' h';
  }
  function price(p) { return typeof p === 'number' && Number.isFinite(p) ? p.toFixed(p >= 100 ? 2 : 4) : '–'; }
  const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);
  function push(list, t, v) {
    list.push([t, v]);
    while (list.length > HISTORY) list.shift();
  }
  function el(tag, attrs, text) {
    const node = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function setText(id, text) { const node = $(id); if (node) node.textContent = text; }

  /** Draws lines [{label, color, points: [[tMs, value]], dashed}] into an SVG, with a legend of latest values. */
  function chart(id, lines, format) {
    const svg = $('chart-' + id);
    const W = 520, H = 170, L = 70, R = 10, T = 10, B = 22;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.replaceChildren();
    const all = lines.flatMap((l) => l.points.filter((p) => p[1] !== null && Number.isFinite(p[1])));
    svg.dataset.points = String(lines[0].points.length);
    if (all.length === 0) {
      svg.appendChild(el('svg:text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'waiting for data…'));
    } else {
      const t1 = Math.max(...all.map((p) => p[0]));
      const t0 = Math.min(t1 - 60000, Math.min(...all.map((p) => p[0])));
      const vMax = Math.max(...all.map((p) => p[1])) || 1;
      const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
      const y = (v) => T + (1 - v / vMax) * (H - T - B);
      for (const f of [0, 0.5, 1]) {
        svg.appendChild(el('svg:line', { x1: L, x2: W - R, y1: y(vMax * f), y2: y(vMax * f), class: 'grid' }));
        svg.appendChild(el('svg:text', { x: L - 6, y: y(vMax * f) + 4, 'text-anchor': 'end', class: 'axis' }, format(vMax * f)));
      }
      svg.appendChild(el('svg:text', { x: L, y: H - 6, class: 'axis' }, '-' + Math.round((t1 - t0) / 1000) + ' s'));
      svg.appendChild(el('svg:text', { x: W - R, y: H - 6, 'text-anchor': 'end', class: 'axis' }, 'now'));
      for (const line of lines) {
        const pts = line.points.filter((p) => p[1] !== null && Number.isFinite(p[1]));
        if (pts.length === 0) continue;
        const d = pts.map((p, i) => (i === 0 ? 'M' : 'L') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1)).join(' ');
        svg.appendChild(el('svg:path', { d, class: 'series' + (line.dashed ? ' dashed' : ''), stroke: line.color, 'data-series': line.label }));
      }
    }
    const legend = $('legend-' + id);
    legend.replaceChildren();
    for (const line of lines) {
      const last = line.points[line.points.length - 1];
      const item = el('span', { class: 'item' });
      const swatch = el('span', { class: 'swatch' });
      swatch.style.background = line.color;
      item.append(swatch, line.label + ': ' + (last === undefined ? '–' : format(last[1])));
      legend.appendChild(item);
    }
  }

  function renderReadiness(readiness) {
    const list = $('readiness');
    list.replaceChildren();
    for (const c of readiness.checks) {
      const li = el('li', { class: c.ok ? 'ok' : 'fail', 'data-check': c.name });
      li.append(el('span', { class: 'badge' }, c.ok ? 'ok' : 'FAIL'), ' ' + c.name.replace(/_/g, ' ') + (c.ok ? '' : ': ' + c.reason));
      list.appendChild(li);
    }
    const badge = $('ready');
    badge.textContent = readiness.status === 'ok' ? 'ready' : 'not ready';
    badge.className = 'pill ' + (readiness.status === 'ok' ? 'ok' : 'fail');
  }

  function renderRejects(s) {
    rejectWindow.push({ t: s.nowMs, rejected: s.report.rejected });
    while (rejectWindow.length > 1 && s.nowMs - rejectWindow[0].t > 60000) rejectWindow.shift();
    const oldest = rejectWindow[0].rejected;
    const body = $('rejects').querySelector('tbody');
    body.replaceChildren();
    const reasons = Object.keys(s.report.rejected).sort();
    if (reasons.length === 0) {
      const tr = el('tr');
      tr.appendChild(el('td', { colspan: 3, class: 'muted' }, 'no rejects since the agent started'));
      body.appendChild(tr);
    }
    for (const reason of reasons) {
      const total = s.report.rejected[reason];
      const tr = el('tr', { 'data-reason': reason });
      tr.append(el('td', {}, reason), el('td', { class: 'num' }, count(total - (oldest[reason] || 0))), el('td', { class: 'num' }, count(total)));
      body.appendChild(tr);
    }
  }

  function update(s) {
    const t = s.nowMs;
    setText('agent-id', s.report.agentId);
    setText('store', s.report.store);
    const feed = $('feed');
    feed.textContent = s.feed.kind + (s.feed.connected ? ' connected' : ' disconnected');
    feed.className = 'pill ' + (s.feed.connected ? 'ok' : 'fail');
    setText('lag', seconds(s.feed.lagSeconds));
    setText('received', count(s.report.received));
    setText('stored', count(s.report.stored));
    setText('files', count(s.report.filesWritten) + ' / ' + count(s.report.filesUploaded));
    setText('fsync', s.wal.fsyncLatency.count > 0 && s.wal.fsyncLatency.p99Ms !== null ? s.wal.fsyncLatency.p99Ms.toFixed(2) + ' ms' : '–');
    setText('snapshot', s.snapshots.lastAtMs > 0 ? seconds((t - s.snapshots.lastAtMs) / 1000) + ' ago' : 'none yet');
    setText('symbols-held', count(s.hot.memory.symbolCount));
    setText('updated', new Date(t).toISOString().replace('T', ' ').slice(0, 19) + ' UTC');

    if (previous !== undefined && t > previous.nowMs) {
      const dt = (t - previous.nowMs) / 1000;
      push(history.received, t, (s.report.received - previous.report.received) / dt);
      push(history.rejected, t, (sum(s.report.rejected) - sum(previous.report.rejected)) / dt);
    }
    previous = s;
    push(history.hot, t, s.hot.memory.totalBytes);
    push(history.warm, t, s.warmDisk ? s.warmDisk.bytes : null);
    push(history.backlog, t, s.upload.bytes);
    if (s.disk) {
      push(history.diskFree, t, s.disk.freeBytes);
      push(history.diskWarn, t, s.disk.totalBytes * s.diskWarnFreeRatio);
      setText('disk-text', (s.disk.freeRatio * 100).toFixed(1) + '% free of ' + bytes(s.disk.totalBytes) + ' (warning below ' + (s.diskWarnFreeRatio * 100).toFixed(0) + '%)');
    }
    setText('backlog-text', count(s.upload.files) + ' files, oldest ' + seconds(s.upload.oldestAgeMs / 1000));

    chart('ingest', [
      { label: 'received/s', color: '#2563eb', points: history.received },
      { label: 'rejected/s', color: '#dc2626', points: history.rejected },
    ], count);
    chart('tiers', [
      { label: 'hot memory', color: '#ea580c', points: history.hot },
      { label: 'warm disk', color: '#16a34a', points: history.warm },
      { label: 'upload backlog', color: '#7c3aed', points: history.backlog },
    ], bytes);
    chart('disk', [
      { label: 'free', color: '#0891b2', points: history.diskFree },
      { label: 'warning level', color: '#dc2626', points: history.diskWarn, dashed: true },
    ], bytes);
    renderRejects(s);
    renderReadiness(s.readiness);
  }

  async function getJson(path) {
    const response = await fetch(path, { cache: 'no-store' });
    if (!response.ok) throw new Error(path + ': HTTP ' + response.status);
    return response.json();
  }

  function showError(error) {
    const banner = $('error');
    if (error === undefined) { banner.hidden = true; return; }
    banner.hidden = false;
    banner.textContent = 'The agent is not answering: ' + error.message;
  }

  async function pollStatus() {
    try {
      update(await getJson('/v1/status'));
      showError(undefined);
    } catch (error) {
      showError(error);
    } finally {
      setTimeout(pollStatus, 1000);
    }
  }

  async function pollBooks() {
    try {
      const symbols = (await getJson('/v1/symbols')).symbols.slice().sort().slice(0, MAX_BOOKS);
      const books = await Promise.all(symbols.map((s) =>
        fetch('/v1/book/' + encodeURIComponent(s), { cache: 'no-store' }).then((r) => (r.ok ? r.json() : null)).catch(() => null)));
      const body = $('books').querySelector('tbody');
      body.replaceChildren();
      const nowNs = BigInt(Date.now()) * 1000000n;
      symbols.forEach((symbol, i) => {
        const b = books[i];
        const tr = el('tr', { 'data-symbol': symbol });
        const age = b ? Number(nowNs - BigInt(b.updateTsNs)) / 1e9 : null;
        tr.append(
          el('td', { class: 'sym' }, symbol),
          el('td', { class: 'num' }, b && b.bidSize !== null ? count(b.bidSize) : '–'),
          el('td', { class: 'num bid' }, b ? price(b.bidPrice) : '–'),
          el('td', { class: 'num ask' }, b ? price(b.askPrice) : '–'),
          el('td', { class: 'num' }, b && b.askSize !== null ? count(b.askSize) : '–'),
          el('td', { class: 'num' }, b ? price(b.spread) : '–'),
          el('td', { class: 'num' }, b ? price(b.mid) : '–'),
          el('td', { class: 'num' }, age === null ? 'no quote yet' : seconds(Math.max(0, age)) + ' ago'),
        );
        body.appendChild(tr);
      });
      setText('books-count', symbols.length + ' symbol' + (symbols.length === 1 ? '' : 's'));
    } catch (error) {
      showError(error);
    } finally {
      setTimeout(pollBooks, 1000);
    }
  }

  pollStatus();
  pollBooks();
})();
`;
