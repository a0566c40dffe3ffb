/**
 * One HTTP(S) request on node:http/node:https with the limits the registry client needs: a deadline (AbortSignal),
 * a bounded response body, a CA bundle, and errors turned into short reasons that name no header or URL query (the
 * places a credential or token could sit). See docs/adr/0006-registry-client.md for why not fetch or a library.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

export interface HttpRequest {
  url: URL;
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  /** Aborts the request (deadline or caller). */
  signal: AbortSignal;
  /** At most this many body bytes are kept; the rest is discarded and the connection closed. */
  maxBodyBytes: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  truncated: boolean;
}

/** A failure below HTTP; `reason` is safe to log and show. */
export class TransportError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'TransportError';
  }
}

export interface Transport {
  request(req: HttpRequest): Promise<HttpResponse>;
  close(): void;
}

export interface TransportOptions {
  /** PEM CA bundle added to Node's roots for HTTPS. */
  ca?: string | Buffer | undefined;
  maxSockets: number;
}

export function createTransport(options: TransportOptions): Transport {
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: 4 });
  const httpsAgent = new https.Agent({
    keepAlive: true,
    maxSockets: options.maxSockets,
    maxFreeSockets: 4,
    minVersion: 'TLSv1.2',
    // A CA bundle is in addition to the system roots, as curl --cacert is not (it replaces), because a mirror
    // with a private CA and a public token realm (e.g. auth.docker.io) must both work.
    ...(options.ca === undefined ? {} : { ca: [...tls.rootCertificates, options.ca.toString()] }),
  });
  return {
    request: (req) => send(req, req.url.protocol === 'https:' ? httpsAgent : httpAgent),
    close: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

function send(req: HttpRequest, agent: http.Agent): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    if (req.signal.aborted) {
      reject(new TransportError(abortReason(req.signal)));
      return;
    }
    const mod = req.url.protocol === 'https:' ? https : http;
    let settled = false;
    const finish = (err: TransportError | undefined, res?: HttpResponse): void => {
      if (settled) return;
      settled = true;
      req.signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(res!);
    };
    const r = mod.request(req.url, { method: req.method, headers: req.headers, agent });
    const onAbort = (): void => {
      finish(new TransportError(abortReason(req.signal)));
      r.destroy();
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    r.on('error', (err) => finish(new TransportError(describeError(err))));
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      res.on('data', (chunk: Buffer) => {
        if (truncated) return;
        const room = req.maxBodyBytes - size;
        if (chunk.length > room) {
          chunks.push(chunk.subarray(0, room));
          size += room;
          truncated = true;
          // Enough read: do not let a registry stream an unbounded body into memory or hold the socket.
          finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), truncated });
          res.destroy();
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), truncated }));
      res.on('error', (err) => finish(new TransportError(describeError(err))));
      res.on('aborted', () => finish(new TransportError('connection closed while reading the response')));
    });
    r.end();
  });
}

function abortReason(signal: AbortSignal): string {
  const why: unknown = signal.reason;
  if ((why as { name?: unknown } | undefined)?.name === 'TimeoutError') return 'timeout';
  if (why instanceof TransportError) return why.reason;
  return 'aborted';
}

const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
]);

/** A short reason from a Node error: its code class, never its message (which may quote a URL). */
export function describeError(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ENOTFOUND':
      return 'DNS lookup failed (host not found)';
    case 'EAI_AGAIN':
      return 'DNS lookup failed (temporary)';
    case 'ETIMEDOUT':
      return 'timeout';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ABORT_ERR':
      return 'aborted';
    default:
      // llhttp's parse errors: e.g. plain HTTP to a TLS port, whose answer Node cannot read.
      if (code.startsWith('HPE_')) return `invalid HTTP response (${code})`;
      if (TLS_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) return `TLS error: ${code}`;
      return code === '' ? 'request failed' : `request failed: ${code}`;
  }
}
