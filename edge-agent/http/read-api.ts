/**
 * The agent's local HTTP server: HTTP/JSON on 127.0.0.1 (unless configured otherwise) for people, for the query
 * client's hot tier, and for operators — Prometheus metrics, liveness and readiness, and a status page.
 * Read-only; every path parameter is validated before it touches the hot tier.
 *
 *   GET /                    the status page (self-contained HTML; polls /v1/status, /v1/symbols, /v1/book/:symbol)
 *   GET /metrics             Prometheus text exposition (agent-metrics.ts)
 *   GET /healthz             liveness: 200, or 503 with the failed check
 *   GET /readyz              readiness: 200 or 503, each check with its value, limit and reason
 *   GET /v1/status           observe() and the figures derived from it, as JSON
 *   GET /v1/symbols, /v1/book/:s, /v1/trades/:s?n=, /v1/quotes/:s?n=, /v1/features/:s, /v1/portfolio
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ObjectStore } from '../../core/object-store/object-store.ts';
import { symbolProblem } from '../../core/symbols.ts';
import type { AgentObservation } from '../agent.ts';
import type { LogFn } from '../log.ts';
import { AgentObserver, type OperatorObservation } from '../metrics/agent-observer.ts';
import { METRICS_CONTENT_TYPE, createAgentMetrics } from '../metrics/agent-metrics.ts';
import { DEFAULT_HEALTH_LIMITS, type HealthLimits, liveness, readiness } from '../metrics/health.ts';
import { STATUS_PAGE_HEADERS, statusPageHtml } from './status-page.ts';

/** What the API reads. The hot tier and the agent provide it; nothing here can change them. */
export interface HotView {
  symbols(): string[];
  book(symbol: string): unknown;
  recentTrades(symbol: string, n: number): unknown[];
  recentQuotes(symbol: string, n: number): unknown[];
  features(symbol: string): unknown;
  portfolio(): unknown;
  status(): unknown;
}

export interface ReadApiOptions {
  readonly view: HotView;
  /** The agent's whole state (EdgeAgent.observe), for metrics, health checks and the status page. */
  readonly observe?: () => AgentObservation;
  /** The agent's object store, for the store-size metrics. @default a local store found from the report, else none */
  readonly store?: ObjectStore;
  /** Least time between two listings of the store for its size. @default 600_000 (10 minutes) */
  readonly storeScanIntervalMs?: number;
  /** Limits of the liveness and readiness checks. @default DEFAULT_HEALTH_LIMITS */
  readonly health?: Partial<HealthLimits>;
  /** Where failures to read the ledger or list the store are reported. @default none */
  readonly log?: LogFn;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Largest n a newest-N read may ask for. @default 10_000 */
  readonly maxN?: number;
}

export interface RunningReadApi {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
  readonly stats: { requests: number; badRequests: number };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** JSON with 64-bit integers as decimal strings (exact) rather than a thrown TypeError, and errors as their messages. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? `${v.name}: ${v.message}` : v));
}

/** GET /v1/status: the agent's observation, with the derived figures and the readiness checks beside it. */
export function statusBody(o: OperatorObservation, limits: HealthLimits): unknown {
  const { recentMs: _recent, buckets: _buckets, ...fsync } = o.agent.wal.fsyncLatency;
  return {
    ...o.agent,
    wal: { ...o.agent.wal, fsyncLatency: fsync },
    feed: { ...o.agent.feed, newestEventTsNs: o.feedLag.newestEventTsNs, lagSeconds: o.feedLag.lagSeconds },
    warmDisk: o.warmDisk,
    storeUsage: o.store.usage,
    process: o.process,
    readiness: readiness(o, limits),
  };
}

function symbolParam(raw: string): string {
  let symbol: string;
  try {
    symbol = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `symbol ${JSON.stringify(raw)} is not valid percent-encoding`);
  }
  const problem = symbolProblem(symbol);
  if (problem !== undefined) throw new HttpError(400, `invalid symbol ${JSON.stringify(symbol.slice(0, 40))}: ${problem}`);
  return symbol;
}

function countParam(url: URL, maxN: number): number {
  const raw = url.searchParams.get('n') ?? '100';
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < 1 || Number(raw) > maxN) throw new HttpError(400, `n=${JSON.stringify(raw.slice(0, 20))}: expected an integer 1..${maxN}`);
  return Number(raw);
}

const ROUTES: [RegExp, (view: HotView, m: RegExpExecArray, url: URL, maxN: number) => unknown][] = [
  [/^\/v1\/symbols$/, (v) => ({ symbols: v.symbols() })],
  [/^\/v1\/portfolio$/, (v) => v.portfolio()],
  [/^\/v1\/book\/([^/]+)$/, (v, m) => found(v.book(symbolParam(m[1] ?? '')), m[1])],
  [/^\/v1\/features\/([^/]+)$/, (v, m) => found(v.features(symbolParam(m[1] ?? '')), m[1])],
  [/^\/v1\/trades\/([^/]+)$/, (v, m, url, maxN) => ({ trades: v.recentTrades(symbolParam(m[1] ?? ''), countParam(url, maxN)) })],
  [/^\/v1\/quotes\/([^/]+)$/, (v, m, url, maxN) => ({ quotes: v.recentQuotes(symbolParam(m[1] ?? ''), countParam(url, maxN)) })],
];

function found(value: unknown, symbol: string | undefined): unknown {
  if (value === undefined) throw new HttpError(404, `no hot data for symbol ${JSON.stringify(decodeURIComponent(symbol ?? ''))}`);
  return value;
}

export async function startReadApi(options: ReadApiOptions): Promise<RunningReadApi> {
  const maxN = options.maxN ?? 10_000;
  const limits: HealthLimits = { ...DEFAULT_HEALTH_LIMITS, ...options.health };
  const stats = { requests: 0, badRequests: 0 };
  const observe = options.observe;
  const observer = observe === undefined ? undefined : new AgentObserver({
    observe,
    view: options.view,
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(options.storeScanIntervalMs === undefined ? {} : { storeScanIntervalMs: options.storeScanIntervalMs }),
    onError: (what, error) => options.log?.('warn', `${what}: cannot read it for the metrics and the status page`, { error: error.message }),
  });
  const metrics = observer === undefined ? undefined : createAgentMetrics(() => observer.read());
  const needed = <T>(part: T | undefined): T => {
    if (part === undefined) throw new HttpError(404, 'this read API was started without the agent\'s observation');
    return part;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const send = (status: number, body: unknown): void => {
      const text = toJson(body);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(text);
    };
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `method ${req.method} not allowed; the API is read-only`);
      const url = new URL(req.url ?? '/', 'http://localhost');
      switch (url.pathname) {
        case '/':
          res.writeHead(200, STATUS_PAGE_HEADERS);
          res.end(statusPageHtml());
          return;
        case '/metrics': {
          const text = await needed(metrics).scrape();
          res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store' });
          res.end(text);
          return;
        }
        case '/healthz': {
          const report = liveness(needed(observer).eventLoopDelayMaxSeconds(), process.uptime(), limits);
          return send(report.status === 'ok' ? 200 : 503, report);
        }
        case '/readyz': {
          const report = readiness(await needed(observer).read(), limits);
          return send(report.status === 'ok' ? 200 : 503, report);
        }
        case '/v1/status':
          return send(200, observer === undefined ? options.view.status() : statusBody(await observer.read(), limits));
      }
      for (const [pattern, handler] of ROUTES) {
        const m = pattern.exec(url.pathname);
        if (m) return send(200, handler(options.view, m, url, maxN));
      }
      throw new HttpError(404, `no route ${JSON.stringify(url.pathname.slice(0, 100))}`);
    } catch (error) {
      if (error instanceof HttpError) {
        stats.badRequests++;
        return send(error.status, { error: error.message });
      }
      return send(500, { error: (error as Error).message });
    }
  };
  const server: Server = createServer((req, res) => {
    stats.requests++;
    void handle(req, res);
  });
  server.maxHeadersCount = 50;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    stats,
    // A store listing in progress is not waited for: it only ever updates figures nobody will read.
    close: async () => {
      observer?.close();
      await new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
    },
  };
}
