// A stand-in for "a build machine on the internet", made of two network
// namespaces this test process creates (iproute2's `ip netns`):
//
//   builder (10.203.0.2, default route via 10.203.0.1)  <-veth->  internet (10.203.0.1, 198.51.100.7)
//
// strata runs inside `builder` (nsenter, and a mount namespace of its own
// with the builder's resolv.conf bound over /etc/resolv.conf: `ip netns exec`
// would also remount /sys and hide the cgroup mounts runc needs), so its RUN steps' traffic
// leaves through `builder`'s default route, as it would leave a real host's.
// `builder` has what a RUN must not reach: a server on its loopback, one on
// its own address, and its resolver on 127.0.0.53 (like systemd-resolved),
// which RUN steps reach only through pasta's DNS forwarding. `internet`
// serves HTTP on port 8080 and names under `.internet.test` resolve to it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const INTERNET_ADDRESS = '198.51.100.7';
export const BUILDER_ADDRESS = '10.203.0.2';

export interface TestNetwork {
  /** The `ip netns` name of the builder namespace. */
  readonly builder: string;
  /** The builder's interface (what a RUN's own namespace is named after by pasta). */
  readonly builderIface: string;
  /** PROGRAM ARGS… in the builder's network namespace, seeing its resolv.conf, as an argv. */
  inBuilder(argv: readonly string[]): string[];
  /** The `ip netns` name of the internet namespace (INTERNET_ADDRESS is there): for a test's own server. */
  readonly internet: string;
  /** PROGRAM ARGS… in the internet namespace, as an argv (`ip netns exec`). */
  inInternet(argv: readonly string[]): string[];
  close(): void;
}

function ip(args: readonly string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
}

/** An HTTP server answering every path with `body`, inside namespace `ns`. */
const HTTP_SERVER = `
const [host, port, body] = process.argv.slice(1);
require('http').createServer((req, res) => res.end(body + '\\n')).listen(Number(port), host, () => console.log('ready'));
`;

/** A DNS server: A records of names under .internet.test are ${INTERNET_ADDRESS}; others do not exist. */
const DNS_SERVER = `
const [host, address] = process.argv.slice(1);
const socket = require('dgram').createSocket('udp4');
socket.on('message', (q, peer) => {
  let i = 12;
  const labels = [];
  while (q[i] !== 0) { labels.push(q.subarray(i + 1, i + 1 + q[i]).toString()); i += q[i] + 1; }
  const type = q.readUInt16BE(i + 1);
  const question = q.subarray(12, i + 5);
  const name = labels.join('.').toLowerCase();
  const known = name.endsWith('.internet.test');
  const head = Buffer.alloc(12);
  q.copy(head, 0, 0, 2);
  head.writeUInt16BE(known ? 0x8180 : 0x8183, 2);
  head.writeUInt16BE(1, 4);
  const answers = [];
  if (known && type === 1) {
    const a = Buffer.alloc(16);
    a.writeUInt16BE(0xc00c, 0); a.writeUInt16BE(1, 2); a.writeUInt16BE(1, 4); a.writeUInt32BE(60, 6); a.writeUInt16BE(4, 10);
    address.split('.').forEach((b, k) => (a[12 + k] = Number(b)));
    answers.push(a);
  }
  head.writeUInt16BE(answers.length, 6);
  socket.send(Buffer.concat([head, question, ...answers]), peer.port, peer.address);
});
socket.bind(53, host, () => console.log('ready'));
`;

function startIn(ns: string, script: string, args: readonly string[]): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`server in ${ns} exited (${code}): ${err}`)));
  });
}

export async function makeTestNetwork(): Promise<TestNetwork> {
  const tag = `st${process.pid % 100000}`;
  const builder = `${tag}b`;
  const internet = `${tag}i`;
  const builderIface = `${tag}b0`;
  const servers: ChildProcess[] = [];
  const etc = join('/run/strata-test-netns', builder);
  const close = () => {
    for (const s of servers) s.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', builder]);
    spawnSync('ip', ['netns', 'del', internet]);
    rmSync(etc, { recursive: true, force: true });
  };
  try {
    close();
    ip(['netns', 'add', builder]);
    ip(['netns', 'add', internet]);
    ip(['link', 'add', builderIface, 'netns', builder, 'type', 'veth', 'peer', 'name', `${tag}i0`, 'netns', internet]);
    ip(['-n', builder, 'addr', 'add', `${BUILDER_ADDRESS}/24`, 'dev', builderIface]);
    ip(['-n', internet, 'addr', 'add', '10.203.0.1/24', 'dev', `${tag}i0`]);
    ip(['-n', internet, 'addr', 'add', `${INTERNET_ADDRESS}/32`, 'dev', `${tag}i0`]);
    for (const [ns, dev] of [[builder, builderIface], [internet, `${tag}i0`]] as const) {
      ip(['-n', ns, 'link', 'set', dev, 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    ip(['-n', builder, 'route', 'add', 'default', 'via', '10.203.0.1']);
    // the builder's resolver is on its loopback (inBuilder binds this file over /etc/resolv.conf)
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'resolv.conf'), 'nameserver 127.0.0.53\n');
    servers.push(await startIn(internet, HTTP_SERVER, ['0.0.0.0', '8080', 'internet-hello']));
    servers.push(await startIn(builder, HTTP_SERVER, ['127.0.0.1', '8081', 'loopback-secret']));
    servers.push(await startIn(builder, HTTP_SERVER, ['0.0.0.0', '8082', 'host-address-secret']));
    servers.push(await startIn(builder, DNS_SERVER, ['127.0.0.53', INTERNET_ADDRESS]));
  } catch (error) {
    close();
    throw error;
  }
  return {
    builder,
    builderIface,
    inBuilder: (argv) => [
      'nsenter',
      `--net=/run/netns/${builder}`,
      'unshare',
      '--mount',
      '--propagation',
      'slave',
      'sh',
      '-c',
      'mount --bind "$0" /etc/resolv.conf && exec "$@"',
      join(etc, 'resolv.conf'),
      ...argv,
    ],
    internet,
    inInternet: (argv) => ['ip', 'netns', 'exec', internet, ...argv],
    close,
  };
}
