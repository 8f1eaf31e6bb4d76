// A small bearer-token server for the reference registry's `auth.token` mode
// (the docker token authentication flow): GET <realm>?service=S&scope=S... with
// optional Basic credentials answers {token, access_token, expires_in, issued_at}.
//
// Tokens are JWTs signed RS256 with a key and self-signed certificate that
// `openssl` writes into the test's temp dir. The certificate goes into the JWT
// `x5c` header; the registry trusts it through `rootcertbundle`.
//
// Test code only: listens on 127.0.0.1, never beyond.
import { execFile } from 'node:child_process';
import { createSign, randomUUID, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface TokenUser {
  name: string;
  password: string;
}

export interface TokenServerOptions {
  /** Folder that receives key.pem and cert.pem. */
  dir: string;
  /** The `service` the registry expects (JWT `aud`). */
  service: string;
  /** The `issuer` the registry expects (JWT `iss`). */
  issuer: string;
  users: TokenUser[];
  /** Actions granted to anonymous requests: default pull only, never push. */
  anonymousActions?: string[];
  /** Lifetime of each token in seconds (`expires_in`); default 300. */
  expiresIn?: number;
}

/** One request the token server answered, for tests that count token fetches. */
export interface TokenRequestRecord {
  user: string | undefined;
  service: string | undefined;
  scopes: string[];
  status: number;
}

export interface TokenServer {
  /** The token endpoint URL: the registry's `realm`. */
  realm: string;
  certPath: string;
  keyPath: string;
  /** Every request, in order. */
  requests: TokenRequestRecord[];
  stop(): Promise<void>;
}

interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/** Writes an RSA key and a self-signed CA certificate for token signing. */
export async function generateSigningCert(dir: string): Promise<{ keyPath: string; certPath: string }> {
  const keyPath = join(dir, 'token-key.pem');
  const certPath = join(dir, 'token-cert.pem');
  await execFileAsync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-subj', '/CN=strata-test-token-issuer',
    '-keyout', keyPath, '-out', certPath,
  ]);
  return { keyPath, certPath };
}

/** Parses `repository:name:pull,push` (names may hold ':' only before the last one). */
function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope.slice(last + 1).split(',').filter((a) => a !== ''),
  };
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+(\S+)$/i.exec(header);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function signJwt(keyPem: string, certDer: Buffer, claims: Record<string, unknown>): string {
  const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = createSign('RSA-SHA256').update(input).sign(keyPem);
  return `${input}.${base64url(signature)}`;
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const { keyPath, certPath } = await generateSigningCert(options.dir);
  const keyPem = await readFile(keyPath, 'utf8');
  const certDer = new X509Certificate(await readFile(certPath)).raw;
  const anonymousActions = options.anonymousActions ?? ['pull'];
  const expiresIn = options.expiresIn ?? 300;
  const requests: TokenRequestRecord[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const service = url.searchParams.get('service') ?? undefined;
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter((s) => s !== '');
    const creds = parseBasic(req.headers.authorization);
    const reply = (status: number, body: unknown): void => {
      requests.push({ user: creds?.user, service, scopes, status });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };

    if (req.method !== 'GET' || url.pathname !== '/token') {
      reply(404, { errors: [{ code: 'NOT_FOUND', message: 'only GET /token is served' }] });
      return;
    }
    if (service !== options.service) {
      reply(400, { errors: [{ code: 'INVALID_SERVICE', message: `unknown service ${service ?? '(none)'}` }] });
      return;
    }
    let granted: (requested: string[]) => string[];
    let subject = '';
    if (creds === undefined) {
      granted = (requested) => requested.filter((a) => anonymousActions.includes(a));
    } else {
      const user = options.users.find((u) => u.name === creds.user);
      if (user === undefined || user.password !== creds.password) {
        reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] });
        return;
      }
      subject = user.name;
      granted = (requested) => requested;
    }
    const access: AccessEntry[] = [];
    for (const scope of scopes) {
      const entry = parseScope(scope);
      if (entry === undefined) continue;
      access.push({ ...entry, actions: granted(entry.actions) });
    }
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt(keyPem, certDer, {
      iss: options.issuer,
      sub: subject,
      aud: options.service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    });
    reply(200, { token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() });
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certPath,
    keyPath,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
