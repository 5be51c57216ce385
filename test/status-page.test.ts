/**
 * The status page in a real browser: Debian's headless Chromium, driven by playwright-core, against a real agent
 * process on the simulator. The page must draw its charts and the hot tier's books from the agent's JSON alone —
 * every request it makes goes to the agent, nothing to the network — with no script or policy error.
 *
 * Nothing is installed at run time. Without /usr/bin/chromium the test fails under CI=true (.ci/run installs the
 * `chromium` package) and is skipped, saying why, elsewhere.
 */
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_SYMBOLS } from '../edge-agent/config.ts';
import { type RunningAgent, startAgentWithHttp } from './support/cli.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const haveChromium = existsSync(CHROMIUM);
const onCi = process.env['CI'] === 'true';
const MISSING = `Chromium not found at ${CHROMIUM}: install Debian's package (apt-get install chromium; .ci/run does) — the test never downloads a browser`;

describe('the status page', () => {
  if (!haveChromium) {
    if (onCi) it('needs Chromium under CI', () => { throw new Error(MISSING); });
    else {
      process.stderr.write(`test/status-page.test.ts skipped: ${MISSING}\n`);
      it.skip(`in headless Chromium — skipped: ${MISSING}`, () => undefined);
    }
  }

  describe.runIf(haveChromium)('in headless Chromium against a running agent', () => {
    let testDir = '';
    let screenshot = '';
    let agent: RunningAgent | undefined;
    let browser: BrowserContext | undefined;
    const requests: string[] = [];
    const problems: string[] = [];
    let seen: {
      agentId: string; feed: string; ready: string; readinessChecks: string[]; ingestPoints: number; ingestPaths: string[];
      tierPaths: string[]; diskPaths: string[]; diskText: string; received: string; books: { symbol: string; bid: string; ask: string; updated: string }[];
      rejects: string; title: string;
    };

    beforeAll(async () => {
      testDir = mkdtempSync(join(tmpdir(), 'tv-status-page-'));
      screenshot = join(testDir, 'status-page.png');
      agent = await startAgentWithHttp(join(testDir, 'data'), ['--rate', '400', '--flush-interval', '2']);
      const { chromium } = await import('playwright-core');
      browser = await chromium.launchPersistentContext(join(testDir, 'chromium-profile'), {
        executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 1100 },
      });
      const page = browser.pages()[0] ?? await browser.newPage();
      page.on('request', (r) => requests.push(r.url()));
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await page.goto(`${agent.url}/`);
      // Until the ingest chart has points (a rate needs two readings) and the books show every simulated symbol.
      // Read through locators: they run in Playwright's own world, which the page's CSP (no eval) leaves alone.
      const started = Date.now();
      for (;;) {
        const points = Number(await page.locator('#chart-ingest').getAttribute('data-points'));
        const bids = await page.locator('#books tbody tr[data-symbol] td.bid').allTextContents();
        if (points >= 3 && bids.length === DEFAULT_SIM_SYMBOLS.length && bids.every((b) => b !== '–')) break;
        if (Date.now() - started > 30_000) throw new Error(`the page did not fill in 30 s (ingest points ${points}, books ${JSON.stringify(bids)}); problems: ${problems.join('; ')}`);
        await page.waitForTimeout(250);
      }
      await page.screenshot({ path: screenshot, fullPage: true });
      const text = async (selector: string) => (await page.locator(selector).textContent()) ?? '';
      const series = (id: string) => page.locator(`#chart-${id} path`).evaluateAll((paths) => paths.map((p) => p.getAttribute('data-series') ?? ''));
      const books = [];
      for (const row of await page.locator('#books tbody tr').all()) {
        books.push({
          symbol: (await row.getAttribute('data-symbol')) ?? '',
          bid: (await row.locator('td.bid').textContent()) ?? '',
          ask: (await row.locator('td.ask').textContent()) ?? '',
          updated: (await row.locator('td').last().textContent()) ?? '',
        });
      }
      const readiness = [];
      for (const li of await page.locator('#readiness li').all()) readiness.push(`${await li.getAttribute('data-check')}:${await li.getAttribute('class')}`);
      seen = {
        title: await page.title(),
        agentId: await text('#agent-id'), feed: await text('#feed'), ready: await text('#ready'), received: await text('#received'),
        readinessChecks: readiness,
        ingestPoints: Number(await page.locator('#chart-ingest').getAttribute('data-points')),
        ingestPaths: await series('ingest'), tierPaths: await series('tiers'), diskPaths: await series('disk'), diskText: await text('#disk-text'),
        books,
        rejects: await text('#rejects tbody'),
      };
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      agent?.child.kill('SIGTERM');
      await agent?.done;
    });

    it('draws live charts of ingest, tier sizes and disk from the agent', () => {
      expect(seen.title).toBe('tickvault agent status');
      expect(seen.feed).toBe('sim connected');
      expect(Number(seen.received.replace(/k$/, 'e3').replace(/M$/, 'e6'))).toBeGreaterThan(0);
      expect(seen.ingestPoints).toBeGreaterThanOrEqual(3);
      expect(seen.ingestPaths).toEqual(['received/s', 'rejected/s']);
      expect(seen.tierPaths).toEqual(['hot memory', 'warm disk', 'upload backlog']);
      expect(seen.diskPaths).toEqual(['free', 'warning level']);
      expect(seen.diskText).toMatch(/^\d+\.\d% free of [\d.]+ [KMGT]iB \(warning below 10%\)$/);
      expect(seen.rejects).toBe('no rejects since the agent started');
      expect(seen.readinessChecks).toEqual(['feed_connected:ok', 'log_writable:ok', 'disk_free:ok', 'upload_backlog_files:ok', 'upload_backlog_age:ok']);
      expect(seen.ready).toBe('ready');
    });

    it("shows the hot tier's books for the simulator's symbols", () => {
      expect(seen.books.map((b) => b.symbol)).toEqual([...DEFAULT_SIM_SYMBOLS].sort());
      for (const b of seen.books) {
        expect(Number(b.bid), b.symbol).toBeGreaterThan(0);
        expect(Number(b.ask), b.symbol).toBeGreaterThanOrEqual(Number(b.bid));
        expect(b.updated, b.symbol).toMatch(/ ago$/);
      }
    });

    it('talks only to the agent, under a policy of self and inline only, with no script or policy error', async () => {
      const base = (agent as { url: string }).url;
      expect(requests.length).toBeGreaterThan(5);
      expect(requests.filter((u) => !u.startsWith(`${base}/`))).toEqual([]);
      expect(problems).toEqual([]);
      const response = await fetch(`${base}/`);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("connect-src 'self'");
      expect(csp).not.toMatch(/https?:|\*/);
      const html = await response.text();
      expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="(https?:)?\/\//);
      expect(agent?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    });

    it('leaves a screenshot in the test directory', () => {
      expect(statSync(screenshot).size).toBeGreaterThan(10_000);
      process.stderr.write(`status page screenshot: ${screenshot}\n`);
    });
  });
});
