// An in-process HTTP proxy for fault injection between a client and a
// registry: connection resets (before the response, or in the middle of the
// body), 500 and 429 answers, a corrupted byte, slow bodies. Rules match on
// method and path and apply a given number of times. Listens on 127.0.0.1.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  /** Close the connection without answering. */
  | 'reset'
  /** Forward, send the headers and half the body, then close the connection. */
  | 'reset-body'
  /** Answer 500 with a registry error body. */
  | 'status-500'
  /** Answer 429 with Retry-After: 0. */
  | 'status-429'
  /** Forward, but flip one byte in the middle of the response body. */
  | 'corrupt'
  /** Forward, delaying each body chunk by `delayMs`. */
  | 'slow'
  /** Read the request, never answer (until the client gives up or the proxy stops). */
  | 'hang';

export interface FaultRule {
  readonly fault: Fault;
  /** HTTP method to match (any when absent). */
  readonly method?: string;
  /** Path (with query) to match (any when absent). */
  readonly path?: RegExp;
  /** How many matching requests get the fault; default: all. */
  times?: number;
  readonly delayMs?: number;
}

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly fault: Fault | undefined;
  status?: number;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT` of the proxy: use it as the registry host. */
  readonly host: string;
  readonly url: string;
  /** Every request seen, in order, with the fault applied to it. */
  readonly requests: ProxiedRequest[];
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(options: { target: string }): Promise<FaultProxy> {
  const target = new URL(options.target);
  const rules: FaultRule[] = [];
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();

  const pick = (req: IncomingMessage): FaultRule | undefined => {
    const rule = rules.find(
      (r) => (r.times === undefined || r.times > 0) && (r.method === undefined || r.method === req.method) && (r.path === undefined || r.path.test(req.url ?? '')),
    );
    if (rule?.times !== undefined) rule.times--;
    return rule;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const rule = pick(req);
    const record: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', fault: rule?.fault };
    requests.push(record);
    switch (rule?.fault) {
      case 'reset':
        req.socket.destroy();
        return;
      case 'hang':
        req.resume();
        return;
      case 'status-500':
      case 'status-429': {
        req.resume();
        req.on('end', () => {
          record.status = rule.fault === 'status-500' ? 500 : 429;
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (rule.fault === 'status-429') headers['retry-after'] = '0';
          res.writeHead(record.status, headers);
          res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected ${rule.fault}` }] }));
        });
        return;
      }
      default:
        break;
    }
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (upstreamRes) => {
        record.status = upstreamRes.statusCode;
        const headers = { ...upstreamRes.headers };
        const fault = rule?.fault;
        if (fault === 'corrupt' || fault === 'reset-body') {
          const chunks: Buffer[] = [];
          upstreamRes.on('data', (c: Buffer) => chunks.push(c));
          upstreamRes.on('end', () => {
            const body = Buffer.concat(chunks);
            if (fault === 'corrupt') {
              const middle = Math.floor(body.length / 2);
              if (body.length > 0) body[middle] = (body[middle] ?? 0) ^ 0xff;
              res.writeHead(upstreamRes.statusCode ?? 502, headers);
              res.end(body);
            } else {
              res.writeHead(upstreamRes.statusCode ?? 502, headers);
              res.write(body.subarray(0, Math.floor(body.length / 2)), () => {
                setTimeout(() => req.socket.destroy(), 20);
              });
            }
          });
          return;
        }
        res.writeHead(upstreamRes.statusCode ?? 502, headers);
        if (fault === 'slow') {
          let timer: NodeJS.Timeout | undefined;
          upstreamRes.on('data', (c: Buffer) => {
            upstreamRes.pause();
            res.write(c);
            timer = setTimeout(() => upstreamRes.resume(), rule?.delayMs ?? 50);
          });
          upstreamRes.on('end', () => res.end());
          // a client that went away (a cancelled download) ends the trickle too
          res.on('close', () => {
            clearTimeout(timer);
            upstreamRes.destroy();
          });
          return;
        }
        upstreamRes.pipe(res);
      },
    );
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  };

  const server: Server = createServer(handle);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    addFault: (rule) => rules.push(rule),
    clearFaults: () => rules.splice(0, rules.length),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
