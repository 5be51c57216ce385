/**
 * The agent's local read API: HTTP/JSON on 127.0.0.1 (unless configured otherwise) for people and for the query
 * client's hot tier. Read-only; every path parameter is validated before it touches the hot tier.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { symbolProblem } from '../../core/symbols.ts';

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
  readonly observe?: () => unknown;
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

/** JSON with 64-bit integers as decimal strings (exact) rather than a thrown TypeError. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
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
  [/^\/v1\/status$/, (v) => v.status()],
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
  const stats = { requests: 0, badRequests: 0 };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    const send = (status: number, body: unknown): void => {
      const text = toJson(body);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(text);
    };
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `method ${req.method} not allowed; the API is read-only`);
      const url = new URL(req.url ?? '/', 'http://localhost');
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
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
