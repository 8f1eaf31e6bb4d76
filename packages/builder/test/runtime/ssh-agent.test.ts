import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { parseSshSpec, SshAgents } from '../../src/runtime/ssh-agent.js';

// --ssh: agent sockets and key files (served by an ssh-agent strata starts), and the
// read-only socket a RUN gets: Debian's ssh-add is the client that tries it.
describe('SSH agents (--ssh)', () => {
  let dir: string;
  let key: string;
  let fingerprint: string;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    dir = mkdtempSync('/dev/shm/strata-ssh-agent-');
    key = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'test-key', '-f', key]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', join(dir, 'locked')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'other')]);
    fingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${key}.pub`], { encoding: 'utf8' }).split(' ')[1] as string;
  });
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  /** PROGRAM ARGS with SSH_AUTH_SOCK=sock, asynchronously: the relay under test runs in this process's event loop. */
  const withAgent = (sock: string, program: string, args: string[], input?: Buffer | string) =>
    new Promise<{ status: number | null; stdout: string }>((resolve) => {
      const child = spawn(program, args, { env: { PATH: process.env.PATH, SSH_AUTH_SOCK: sock }, stdio: ['pipe', 'pipe', 'ignore'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stdin.end(input);
      child.once('close', (status) => resolve({ status, stdout }));
    });
  const sshAdd = (sock: string, args: string[], input?: Buffer) => withAgent(sock, 'ssh-add', args, input);

  it('reads docker build --ssh values', () => {
    expect(parseSshSpec('default')).toEqual({ id: 'default', paths: [] });
    expect(parseSshSpec('deploy=/k/a,/k/b')).toEqual({ id: 'deploy', paths: ['/k/a', '/k/b'] });
    expect(() => parseSshSpec('bad id=/x')).toThrow(expect.objectContaining({ code: 'BUILD_SSH_INVALID' }));
  });

  it('refuses a missing path, two sockets or a socket mixed with keys, an id given twice, default without SSH_AUTH_SOCK', async () => {
    const open = (specs: { id: string; paths: string[] }[], env: NodeJS.ProcessEnv = {}) => SshAgents.open(specs, dir, env);
    await expect(open([{ id: 'default', paths: [join(dir, 'nope')] }])).rejects.toMatchObject({ code: 'BUILD_SSH_INVALID', message: expect.stringContaining('no such file') });
    await expect(open([{ id: 'default', paths: [] }])).rejects.toMatchObject({ code: 'BUILD_SSH_INVALID', message: expect.stringContaining('SSH_AUTH_SOCK') });
    await expect(open([{ id: 'a', paths: [key] }, { id: 'a', paths: [key] }])).rejects.toMatchObject({ code: 'BUILD_SSH_INVALID' });
    await expect(open([{ id: 'a', paths: [dir] }])).rejects.toMatchObject({ code: 'BUILD_SSH_INVALID' });
    const sockets = [join(dir, 's1.sock'), join(dir, 's2.sock')];
    const servers = await Promise.all(sockets.map((p) => new Promise<Server>((resolve) => { const s = createServer(); s.listen(p, () => resolve(s)); })));
    try {
      await expect(open([{ id: 'a', paths: sockets }])).rejects.toMatchObject({ code: 'BUILD_SSH_INVALID', message: expect.stringContaining('only one agent socket') });
      await expect(open([{ id: 'a', paths: [sockets[0] as string, key] }])).rejects.toMatchObject({ code: 'BUILD_SSH_INVALID', message: expect.stringContaining('cannot be mixed') });
    } finally {
      for (const server of servers) server.close();
    }
  });

  it('serves key files through an ssh-agent of its own, read-only: list and sign, no adding or removing keys', async () => {
    const agents = await SshAgents.open([{ id: 'default', paths: [key] }], dir);
    expect(agents.has('default')).toBe(true);
    expect(agents.has('other')).toBe(false);
    const served = await agents.serve('default', { uid: 1000, gid: 1000, mode: 0o640 });
    const path = served.path;
    expect(path.startsWith(join(dir, 'strata-ssh-'))).toBe(true);
    const st = statSync(path);
    expect([st.isSocket(), st.uid, st.gid, st.mode & 0o777]).toEqual([true, 1000, 1000, 0o640]);
    const listed = await sshAdd(path, ['-l']);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain(fingerprint);
    // signing works: ssh-keygen -Y sign with the public key signs through the agent
    const signed = await withAgent(path, 'ssh-keygen', ['-Y', 'sign', '-n', 'file', '-f', `${key}.pub`, '-'], 'data');
    expect(signed.stdout).toContain('BEGIN SSH SIGNATURE');
    expect((await sshAdd(path, ['-D'])).status).not.toBe(0);
    expect((await sshAdd(path, ['-'], readFileSync(join(dir, 'other')))).status).not.toBe(0);
    expect((await sshAdd(path, ['-d', `${key}.pub`])).status).not.toBe(0);
    expect((await sshAdd(path, ['-l'])).stdout).toContain(fingerprint);
    await served.stop();
    expect(() => statSync(path)).toThrow();
    // the agent strata started stops with the build
    const agentSock = await agents.socket('default');
    expect((await sshAdd(agentSock, ['-l'])).status).toBe(0);
    await agents.close();
    expect((await sshAdd(agentSock, ['-l'])).status).not.toBe(0);
    // its sockets' folder is gone with it
    expect(readdirSync(dir).filter((n) => n.startsWith('strata-ssh-'))).toEqual([]);
  });

  it('forwards an agent socket (SSH_AUTH_SOCK for default) without starting one', async () => {
    const sock = join(dir, 'user-agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    children.push(agent);
    for (let i = 0; i < 100 && (await sshAdd(sock, ['-l'])).status === 2; i += 1) await new Promise((r) => setTimeout(r, 20));
    expect((await sshAdd(sock, ['-'], readFileSync(key))).status).toBe(0);
    const agents = await SshAgents.open([{ id: 'default', paths: [] }], dir, { SSH_AUTH_SOCK: sock });
    expect(await agents.socket('default')).toBe(sock);
    const { path } = await agents.serve('default', { uid: 0, gid: 0, mode: 0o600 });
    expect((await sshAdd(path, ['-l'])).stdout).toContain(fingerprint);
    expect((await sshAdd(path, ['-D'])).status).not.toBe(0);
    await agents.close();
    // the user's agent still has its key
    expect((await sshAdd(sock, ['-l'])).stdout).toContain(fingerprint);
  });

  it('serves several key files under one id (--ssh ID=KEY,KEY)', async () => {
    const agents = await SshAgents.open([{ id: 'deploy', paths: [key, join(dir, 'other')] }], dir);
    const served = await agents.serve('deploy', { uid: 0, gid: 0, mode: 0o600 });
    const other = execFileSync('ssh-keygen', ['-l', '-f', `${join(dir, 'other')}.pub`], { encoding: 'utf8' }).split(' ')[1] as string;
    const listed = (await sshAdd(served.path, ['-l'])).stdout;
    expect(listed).toContain(fingerprint);
    expect(listed).toContain(other);
    await agents.close();
  });

  it('a key with a passphrase is BUILD_SSH_AGENT (no terminal to ask on)', async () => {
    const agents = await SshAgents.open([{ id: 'default', paths: [join(dir, 'locked')] }], dir);
    await expect(agents.socket('default')).rejects.toMatchObject({ code: 'BUILD_SSH_AGENT', message: expect.stringContaining('passphrase') });
    await agents.close();
  });
});
