/**
 * An HTTP proxy on 127.0.0.1 in front of the test S3 server (Swift) that injects faults: error answers, SlowDown,
 * requests held without an answer, connections reset before forwarding, trickled answers, connections reset after
 * the server has stored the object, and a full outage that can be switched on and off. The S3 client uses the
 * proxy's endpoint with forcePathStyle; SigV4 still verifies because the Host header is passed through unchanged.
 *
 * Faults come from an explicit schedule (one-shot, matched per request) or from a seeded random choice, so a test
 * run is repeatable as far as the order of requests is. Everything the proxy does is counted.
 */
import { type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse, Agent, createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { seededRandom } from '../../edge-agent/simulator/prng.ts';

export const FAULT_KINDS = [
  /** 500 InternalError, S3 XML body. */
  'error-500',
  /** 503 ServiceUnavailable, S3 XML body. */
  'error-503',
  /** 503 SlowDown, S3 XML body. */
  'slow-down',
  /** The request is read and never answered; the client's timeout must end it. */
  'timeout',
  /** The connection is destroyed as the request arrives, before anything is forwarded. */
  'reset-before',
  /** Forwarded; the answer comes back late and in small pieces. */
  'slow-body',
  /** Forwarded; once the server has answered (the object is stored) the client's connection is destroyed instead. */
  'reset-after',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** 'reset': connections accepted and destroyed at once; 'refuse': the port is closed; 'hang': nothing is answered. */
export type OutageMode = 'reset' | 'refuse' | 'hang';

export type S3Operation =
  | 'PutObject' | 'UploadPart' | 'CreateMultipartUpload' | 'CompleteMultipartUpload' | 'AbortMultipartUpload'
  | 'ListMultipartUploads' | 'ListParts' | 'HeadObject' | 'GetObject' | 'ListObjects' | 'DeleteObject'
  | 'DeleteObjects' | 'CreateBucket' | 'HeadBucket' | 'Other';

export interface ProxiedRequest {
  /** 1, 2, … in arrival order. */
  readonly seq: number;
  readonly method: string;
  readonly bucket: string | undefined;
  /** Decoded object key, when the request names one. */
  readonly key: string | undefined;
  readonly operation: S3Operation;
}

export interface FaultProxyOptions {
  /** The server behind the proxy, e.g. `http://127.0.0.1:8080`. */
  readonly upstream: string;
  /** Seed of the random fault choice. @default 1 */
  readonly seed?: number;
  /** Share of eligible requests given a random fault, 0..1. @default 0 */
  readonly faultRate?: number;
  /** Relative weights of the kinds chosen at random. @default every kind, weight 1 */
  readonly kinds?: Partial<Record<FaultKind, number>>;
  /** Which requests random faults may hit. @default every request */
  readonly eligible?: (req: ProxiedRequest) => boolean;
  /** How a slow body trickles: pause before the headers, then at most `chunks` pieces `intervalMs` apart. @default 300 ms, 20 pieces, 25 ms */
  readonly trickle?: { readonly headerDelayMs: number; readonly chunks: number; readonly intervalMs: number };
}

/**
 * How often each fault was injected; `forwarded` requests passed untouched; `outage` counts requests and
 * connections turned away during an outage (a closed port turns them away unseen, so they are not counted).
 */
export type FaultCounts = Record<FaultKind | 'forwarded' | 'outage' | 'requests', number>;

export interface FaultRecord {
  readonly seq: number;
  readonly operation: S3Operation;
  readonly key: string | undefined;
  readonly action: FaultKind | 'forwarded' | 'outage';
}

interface Scheduled {
  readonly fault: FaultKind;
  readonly match: (req: ProxiedRequest) => boolean;
}

const ERROR_BODIES: Record<'error-500' | 'error-503' | 'slow-down', { status: number; code: string; message: string }> = {
  'error-500': { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' },
  'error-503': { status: 503, code: 'ServiceUnavailable', message: 'Service is unable to handle request.' },
  'slow-down': { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
};

export class FaultProxy {
  readonly counts: FaultCounts;
  /** Every request and what was done with it, in arrival order. */
  readonly records: FaultRecord[] = [];
  private readonly upstream: URL;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });
  private readonly sockets = new Set<Socket>();
  private readonly schedule: Scheduled[] = [];
  private readonly random: () => number;
  private readonly weights: [FaultKind, number][];
  private faultRate: number;
  private outage: OutageMode | false = false;
  private seq = 0;
  private port = 0;
  private listening = false;

  private constructor(
    private readonly server: Server,
    private readonly options: FaultProxyOptions,
  ) {
    this.upstream = new URL(options.upstream);
    this.random = seededRandom(options.seed ?? 1);
    this.faultRate = options.faultRate ?? 0;
    this.weights = FAULT_KINDS.map((k): [FaultKind, number] => [k, options.kinds === undefined ? 1 : (options.kinds[k] ?? 0)]).filter(
      ([, w]) => w > 0,
    );
    this.counts = Object.fromEntries(
      [...FAULT_KINDS, 'forwarded', 'outage', 'requests'].map((k) => [k, 0]),
    ) as FaultCounts;
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const server = createServer();
    const proxy = new FaultProxy(server, options);
    server.on('connection', (socket) => proxy.onConnection(socket));
    server.on('request', (req, res) => proxy.onRequest(req, res));
    server.keepAliveTimeout = 5_000;
    await proxy.listen(0);
    return proxy;
  }

  /** `http://127.0.0.1:PORT`: give this to the S3 client as its endpoint. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The next request that `match`es (any request by default) gets this fault; schedules are used in order. */
  scheduleFault(fault: FaultKind, match: (req: ProxiedRequest) => boolean = () => true): void {
    this.schedule.push({ fault, match });
  }

  setFaultRate(rate: number): void {
    this.faultRate = rate;
  }

  /** Switches a full outage on (a mode) or off (false). Open connections are destroyed when it starts. */
  async setOutage(mode: OutageMode | false): Promise<void> {
    const previous = this.outage;
    this.outage = mode;
    if (mode !== false) for (const socket of this.sockets) socket.destroy();
    if (mode === 'refuse' && this.listening) {
      await new Promise<void>((done) => this.server.close(() => done()));
      this.listening = false;
    }
    if (mode !== 'refuse' && previous === 'refuse' && !this.listening) await this.listen(this.port);
  }

  async close(): Promise<void> {
    this.outage = 'reset';
    for (const socket of this.sockets) socket.destroy();
    this.agent.destroy();
    if (this.listening) await new Promise<void>((done) => this.server.close(() => done()));
    this.listening = false;
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.listening = true;
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    if (this.outage === 'reset') {
      this.counts.outage++;
      socket.destroy();
    }
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const info = describe(++this.seq, req);
    this.counts.requests++;
    if (this.outage !== false) {
      this.note(info, 'outage');
      if (this.outage === 'hang') req.resume();
      else req.socket.destroy();
      return;
    }
    const fault = this.chooseFault(info);
    this.note(info, fault ?? 'forwarded');
    switch (fault) {
      case undefined:
        this.forward(req, res, 'pipe');
        return;
      case 'error-500':
      case 'error-503':
      case 'slow-down': {
        const { status, code, message } = ERROR_BODIES[fault];
        req.resume();
        req.on('end', () => {
          const body = req.method === 'HEAD' ? '' : s3ErrorXml(code, message, info);
          res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
        return;
      }
      case 'timeout':
        req.resume(); // read the body, never answer
        return;
      case 'reset-before':
        req.socket.destroy();
        return;
      case 'slow-body':
        this.forward(req, res, 'trickle');
        return;
      case 'reset-after':
        this.forward(req, res, 'reset');
        return;
    }
  }

  private chooseFault(info: ProxiedRequest): FaultKind | undefined {
    const i = this.schedule.findIndex((s) => s.match(info));
    if (i !== -1) {
      const [scheduled] = this.schedule.splice(i, 1);
      return scheduled?.fault;
    }
    // Draw for every request, eligible or not, so the sequence depends only on the request count.
    const draw = this.random();
    const pick = this.random();
    if (draw >= this.faultRate || this.weights.length === 0) return undefined;
    if (this.options.eligible !== undefined && !this.options.eligible(info)) return undefined;
    const total = this.weights.reduce((sum, [, w]) => sum + w, 0);
    let at = pick * total;
    for (const [kind, weight] of this.weights) {
      if (at < weight) return kind;
      at -= weight;
    }
    return this.weights[this.weights.length - 1]?.[0];
  }

  private note(info: ProxiedRequest, action: FaultRecord['action']): void {
    this.counts[action]++;
    this.records.push({ seq: info.seq, operation: info.operation, key: info.key, action });
  }

  /** Sends the request upstream; the answer is piped, trickled, or (once complete) replaced by a reset. */
  private forward(req: IncomingMessage, res: ServerResponse, answer: 'pipe' | 'trickle' | 'reset'): void {
    const upstreamReq = request({
      host: this.upstream.hostname,
      port: this.upstream.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent: this.agent,
    });
    upstreamReq.on('error', () => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('fault proxy: upstream failed');
      } else res.destroy();
    });
    req.pipe(upstreamReq);
    // The client went away mid-request (killed, timed out): the server must not get a complete request either.
    req.on('close', () => {
      if (!req.complete) upstreamReq.destroy();
    });
    upstreamReq.on('response', (upstreamRes) => {
      const status = upstreamRes.statusCode ?? 502;
      const headers = upstreamRes.headers as OutgoingHttpHeaders;
      if (answer === 'pipe') {
        res.writeHead(status, headers);
        upstreamRes.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      upstreamRes.on('data', (c: Buffer) => chunks.push(c));
      upstreamRes.on('error', () => res.destroy());
      upstreamRes.on('end', () => {
        if (answer === 'reset') {
          // The server has done the work and answered; the client never hears it.
          req.socket.destroy();
          return;
        }
        void this.trickle(res, status, headers, Buffer.concat(chunks));
      });
    });
  }

  private async trickle(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: Buffer): Promise<void> {
    const { headerDelayMs, chunks, intervalMs } = this.options.trickle ?? { headerDelayMs: 300, chunks: 20, intervalMs: 25 };
    await sleep(headerDelayMs);
    if (res.destroyed) return;
    res.writeHead(status, headers);
    const size = Math.max(1, Math.ceil(body.byteLength / chunks));
    for (let at = 0; at < body.byteLength; at += size) {
      if (res.destroyed) return;
      res.write(body.subarray(at, at + size));
      await sleep(intervalMs);
    }
    res.end();
  }
}

function describe(seq: number, req: IncomingMessage): ProxiedRequest {
  const url = new URL(req.url ?? '/', 'http://proxy');
  const [bucketPart, ...keyParts] = url.pathname.replace(/^\//, '').split('/');
  const bucket = bucketPart === undefined || bucketPart === '' ? undefined : decodeURIComponent(bucketPart);
  const key = keyParts.length === 0 || keyParts.join('/') === '' ? undefined : decodeURIComponent(keyParts.join('/'));
  const q = url.searchParams;
  const method = req.method ?? 'GET';
  const operation: S3Operation =
    key === undefined
      ? method === 'GET' && q.has('uploads') ? 'ListMultipartUploads'
      : method === 'GET' ? 'ListObjects'
      : method === 'POST' && q.has('delete') ? 'DeleteObjects'
      : method === 'PUT' ? 'CreateBucket'
      : method === 'HEAD' ? 'HeadBucket'
      : 'Other'
    : method === 'PUT' && q.has('uploadId') ? 'UploadPart'
    : method === 'PUT' ? 'PutObject'
    : method === 'POST' && q.has('uploads') ? 'CreateMultipartUpload'
    : method === 'POST' && q.has('uploadId') ? 'CompleteMultipartUpload'
    : method === 'DELETE' && q.has('uploadId') ? 'AbortMultipartUpload'
    : method === 'DELETE' ? 'DeleteObject'
    : method === 'GET' && q.has('uploadId') ? 'ListParts'
    : method === 'GET' ? 'GetObject'
    : method === 'HEAD' ? 'HeadObject'
    : 'Other';
  return { seq, method, bucket, key, operation };
}

function s3ErrorXml(code: string, message: string, info: ProxiedRequest): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message>` +
    `<Resource>/${info.bucket ?? ''}/${info.key ?? ''}</Resource><RequestId>fault-proxy-${info.seq}</RequestId></Error>`
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
