/**
 * A local stand-in for Alpaca's historical market data REST API on 127.0.0.1, serving the rows a test gives it:
 * `GET /v2/stocks/{symbol}/{trades|quotes|bars}` and `GET /v1beta3/crypto/us/{trades|quotes|bars}?symbols=...`,
 * with the APCA-API-KEY-ID / APCA-API-SECRET-KEY headers checked, start/end filtering (inclusive) on `t`,
 * `limit` and `next_page_token` pagination, `timeframe` for bars, and failures on demand (429 with Retry-After, 5xx).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseRfc3339Nanos } from '../../core/rfc3339.ts';

/** One row as the REST API sends it: the stream's short field names without T and S, `t` an RFC 3339 string. */
export type RestRow = Readonly<Record<string, unknown>> & { readonly t: string };

export interface RestServerData {
  /** Rows per symbol, in time order. */
  readonly trades?: Readonly<Record<string, readonly RestRow[]>>;
  readonly quotes?: Readonly<Record<string, readonly RestRow[]>>;
  /** Bars per timeframe ('1Min', '1Day') and symbol. */
  readonly bars?: Readonly<Record<string, Readonly<Record<string, readonly RestRow[]>>>>;
}

export interface RestServerOptions {
  readonly keyId: string;
  readonly secretKey: string;
  readonly data: RestServerData;
  /** The most rows on one page, whatever `limit` asks. @default 10_000 */
  readonly pageSize?: number;
}

export interface RestRequest {
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly status: number;
  readonly atMs: number;
}

export interface RunningRestServer {
  /** http://127.0.0.1:PORT */
  readonly baseUrl: string;
  /** Every request, in arrival order. */
  readonly requests: RestRequest[];
  /** The next `count` data requests fail with `status` (and Retry-After when given). */
  failNext(count: number, status?: number, retryAfterSeconds?: number): void;
  close(): Promise<void>;
}

type RestDataset = 'trades' | 'quotes' | 'bars';

function reply(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export async function startAlpacaRestServer(options: RestServerOptions): Promise<RunningRestServer> {
  const requests: RestRequest[] = [];
  const pageSize = options.pageSize ?? 10_000;
  let failures: { count: number; status: number; retryAfterSeconds: number | undefined } = { count: 0, status: 429, retryAfterSeconds: undefined };

  const rowsOf = (dataset: RestDataset, symbol: string, timeframe: string | undefined): readonly RestRow[] => {
    if (dataset === 'bars') return options.data.bars?.[timeframe ?? '']?.[symbol] ?? [];
    return options.data[dataset]?.[symbol] ?? [];
  };

  const handle = (request: IncomingMessage, response: ServerResponse, log: (status: number) => void): void => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams.entries());
    const send = (status: number, body: unknown, headers?: Record<string, string>): void => {
      log(status);
      reply(response, status, body, headers);
    };
    if (request.method !== 'GET') return send(405, { message: 'method not allowed' });
    if (header(request, 'apca-api-key-id') !== options.keyId || header(request, 'apca-api-secret-key') !== options.secretKey) {
      return send(401, { message: 'unauthorized' });
    }
    const stock = /^\/v2\/stocks\/([^/]+)\/(trades|quotes|bars)$/.exec(url.pathname);
    const crypto = /^\/v1beta3\/crypto\/us\/(trades|quotes|bars)$/.exec(url.pathname);
    if (stock === null && crypto === null) return send(404, { message: 'not found' });
    const dataset = (stock?.[2] ?? crypto?.[1]) as RestDataset;
    const symbol = stock !== null ? decodeURIComponent(stock[1] ?? '') : (query['symbols'] ?? '');
    if (symbol === '' || symbol.includes(',')) return send(400, { message: 'one symbol per request in this test server' });
    if (failures.count > 0) {
      failures.count--;
      const headers: Record<string, string> = failures.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(failures.retryAfterSeconds) };
      return send(failures.status, { message: failures.status === 429 ? 'too many requests' : 'internal server error' }, headers);
    }
    const timeframe = query['timeframe'];
    if (dataset === 'bars' && timeframe === undefined) return send(422, { message: 'timeframe is required' });
    let startNs: bigint | undefined;
    let endNs: bigint | undefined;
    try {
      if (query['start'] !== undefined) startNs = parseRfc3339Nanos(query['start']);
      if (query['end'] !== undefined) endNs = parseRfc3339Nanos(query['end']);
    } catch {
      return send(422, { message: 'invalid start or end' });
    }
    const limit = Number(query['limit'] ?? '1000');
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) return send(422, { message: 'invalid limit' });
    let offset = 0;
    if (query['page_token'] !== undefined) {
      offset = Number(Buffer.from(query['page_token'], 'base64url').toString('utf8'));
      if (!Number.isInteger(offset) || offset < 0) return send(400, { message: 'invalid page_token' });
    }
    const all = rowsOf(dataset, symbol, timeframe).filter((row) => {
      const t = parseRfc3339Nanos(row.t);
      return (startNs === undefined || t >= startNs) && (endNs === undefined || t <= endNs);
    });
    const page = all.slice(offset, offset + Math.min(limit, pageSize));
    const nextOffset = offset + page.length;
    const next = nextOffset < all.length ? Buffer.from(String(nextOffset), 'utf8').toString('base64url') : null;
    if (crypto !== null) return send(200, { [dataset]: page.length > 0 ? { [symbol]: page } : {}, next_page_token: next });
    // Alpaca answers an empty stock page with null rather than [].
    return send(200, { [dataset]: page.length > 0 ? page : null, symbol, next_page_token: next });
  };

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const log = (status: number): void => {
      requests.push({ path: url.pathname, query: Object.fromEntries(url.searchParams.entries()), status, atMs: Date.now() });
    };
    try {
      handle(request, response, log);
    } catch (e) {
      log(500);
      reply(response, 500, { message: (e as Error).message });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    failNext(count, status = 429, retryAfterSeconds) {
      failures = { count, status, retryAfterSeconds };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
