import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/index.js';
import { memoryIo } from './memory-io.js';

// strata bake's reading of bake files, through `strata bake --print`: the
// same build graph written as docker-bake.hcl, docker-bake.json and
// compose.yaml prints the same JSON (buildx's form); variables, the
// environment and --set override it.
const HCL = `
variable "TAG" { default = "1.0" }
variable "REGISTRY" { default = "localhost/strata" }
group "default" { targets = ["app", "tools"] }
target "base" {
  context = "base"
  dockerfile = "Dockerfile.base"
  args = { DISTRO = "bookworm" }
  tags = ["\${REGISTRY}/base:\${TAG}"]
  platforms = ["linux/arm64"]
}
target "app" {
  context = "app"
  contexts = { base = "target:base" }
  args = { BASE_IMAGE = "\${REGISTRY}/base:\${TAG}" }
  tags = ["\${REGISTRY}/app:\${TAG}"]
  target = "runtime"
  labels = { "org.opencontainers.image.title" = "app" }
}
target "tools" {
  context = "tools"
  tags = ["\${REGISTRY}/tools:\${TAG}"]
}
`;

const JSON_FILE = JSON.stringify({
  variable: { TAG: { default: '1.0' }, REGISTRY: { default: 'localhost/strata' } },
  group: { default: { targets: ['app', 'tools'] } },
  target: {
    base: { context: 'base', dockerfile: 'Dockerfile.base', args: { DISTRO: 'bookworm' }, tags: ['${REGISTRY}/base:${TAG}'], platforms: ['linux/arm64'] },
    app: {
      context: 'app',
      contexts: { base: 'target:base' },
      args: { BASE_IMAGE: '${REGISTRY}/base:${TAG}' },
      tags: ['${REGISTRY}/app:${TAG}'],
      target: 'runtime',
      labels: { 'org.opencontainers.image.title': 'app' },
    },
    tools: { context: 'tools', tags: ['${REGISTRY}/tools:${TAG}'] },
  },
});

const COMPOSE = `
services:
  base:
    build:
      context: base
      dockerfile: Dockerfile.base
      args:
        DISTRO: bookworm
      tags: ["\${REGISTRY:-localhost/strata}/base:\${TAG:-1.0}"]
      platforms: [linux/arm64]
  app:
    build:
      context: app
      additional_contexts:
        base: service:base
      args:
        - BASE_IMAGE=\${REGISTRY:-localhost/strata}/base:\${TAG:-1.0}
      tags: ["\${REGISTRY:-localhost/strata}/app:\${TAG:-1.0}"]
      target: runtime
      labels:
        org.opencontainers.image.title: app
  tools:
    image: \${REGISTRY:-localhost/strata}/tools:\${TAG:-1.0}
    build: tools
`;

describe('strata bake --print', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'strata-bake-print-'));
    writeFileSync(join(dir, 'docker-bake.hcl'), HCL);
    writeFileSync(join(dir, 'bake.json'), JSON_FILE);
    writeFileSync(join(dir, 'compose.yaml'), COMPOSE);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function bake(args: string[], env: Record<string, string> = {}) {
    const io = memoryIo({ cwd: dir, env: { STRATA_ROOT: join(dir, 'no-store'), ...env } });
    const code = await main(['bake', '--print', ...args], io);
    return { code, out: io.out(), err: io.err(), json: code === 0 ? (JSON.parse(io.out()) as { group?: Record<string, { targets: string[] }>; target: Record<string, Record<string, unknown>> }) : undefined };
  }

  it('prints what buildx prints for a chain: defaults filled, linked targets cacheonly, fields in buildx order', async () => {
    const { code, out, err } = await bake(['-f', 'docker-bake.hcl']);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({
      group: { default: { targets: ['app', 'tools'] } },
      target: {
        app: {
          context: 'app',
          contexts: { base: 'target:base' },
          dockerfile: 'Dockerfile',
          args: { BASE_IMAGE: 'localhost/strata/base:1.0' },
          labels: { 'org.opencontainers.image.title': 'app' },
          tags: ['localhost/strata/app:1.0'],
          target: 'runtime',
        },
        base: {
          context: 'base',
          dockerfile: 'Dockerfile.base',
          args: { DISTRO: 'bookworm' },
          tags: ['localhost/strata/base:1.0'],
          platforms: ['linux/arm64'],
          output: [{ type: 'cacheonly' }],
        },
        tools: { context: 'tools', dockerfile: 'Dockerfile', tags: ['localhost/strata/tools:1.0'] },
      },
    });
    expect(Object.keys(JSON.parse(out).target.app)).toEqual(['context', 'contexts', 'dockerfile', 'args', 'labels', 'tags', 'target']);
  });

  it('resolves HCL, JSON and compose files of the same graph to the same JSON', async () => {
    const hcl = await bake(['-f', 'docker-bake.hcl', 'app', 'tools']);
    const json = await bake(['-f', 'bake.json', 'app', 'tools']);
    const compose = await bake(['-f', 'compose.yaml', 'app', 'tools']);
    expect(json.out).toBe(hcl.out);
    expect(compose.out).toBe(hcl.out);
    // the same again with an environment variable: a variable (HCL, JSON) or an interpolation (compose)
    const env = { TAG: '2.0' };
    const outs = await Promise.all(['docker-bake.hcl', 'bake.json', 'compose.yaml'].map(async (f) => (await bake(['-f', f, 'app', 'tools'], env)).out));
    expect(new Set(outs).size).toBe(1);
    expect(JSON.parse(outs[0] as string).target.app.tags).toEqual(['localhost/strata/app:2.0']);
  });

  it('reads the default files in buildx order when no -f is given (compose first, HCL over it)', async () => {
    const { json } = await bake([]);
    // compose's default group lists every service; the HCL file's default group is merged into it
    expect(json?.group?.default?.targets).toEqual(['app', 'base', 'tools']);
    expect(json?.target.base?.output).toBeUndefined();
  });

  it('applies --set: globs, lists replaced and appended, map entries, args from the environment, and the flag shorthands', async () => {
    const { json, err } = await bake(
      ['-f', 'docker-bake.hcl', '--set', 'app.tags=me/app:x', '--set', 'app.tags+=me/app:y', '--set', '*.platform=linux/amd64', '--set', 'app.args.FROM_ENV', '--set', 'app.contexts.extra=./extra', '--no-cache', '--push', 'app'],
      { FROM_ENV: 'from the environment' },
    );
    expect(err).toBe('');
    const app = json?.target.app as Record<string, unknown>;
    expect(app.tags).toEqual(['localhost/strata/app:1.0', 'me/app:x', 'me/app:y']);
    expect(app.platforms).toEqual(['linux/amd64']);
    expect(app.args).toEqual({ BASE_IMAGE: 'localhost/strata/base:1.0', FROM_ENV: 'from the environment' });
    expect(app.contexts).toEqual({ base: 'target:base', extra: './extra' });
    expect(app['no-cache']).toBe(true);
    expect(app.output).toEqual([{ push: 'true', type: 'image' }]);
    // the linked base keeps its cacheonly output but gets the platform override
    expect(json?.target.base?.platforms).toEqual(['linux/amd64']);
    const replaced = await bake(['-f', 'docker-bake.hcl', '--set', 'tools.tags=a', '--set', 'tools.tags=b', 'tools']);
    expect(replaced.json?.target.tools?.tags).toEqual(['a', 'b']);
  });

  it('evaluates HCL expressions: functions, conditionals, for, user functions, target.NAME.ATTR, escapes, heredocs, typed env overrides', async () => {
    writeFileSync(
      join(dir, 'expr.hcl'),
      `
variable "DEBUG" { default = false }
variable "JOBS" { default = 2 }
variable "NAMES" { default = ["a", "b"] }
function "tag" {
  params = [name, version]
  result = "reg/\${lower(name)}:\${version}"
}
target "base" { tags = [tag("Base", "1")] }
target "x" {
  inherits = ["base"]
  args = {
    MODE = DEBUG ? "debug" : "release"
    JOBS = JOBS * 2
    BASE = target.base.tags[0]
    JOINED = join(",", [for n in NAMES : upper(n)])
    LITERAL = "$\${HOME}"
    GONE = null
  }
  labels = { "org.x" = replace(trimsuffix("v1.2.3-rc", "-rc"), ".", "_") }
  dockerfile-inline = <<-EOT
    FROM scratch
    LABEL x=\${coalesce("", "y")}
  EOT
}
`,
    );
    const plain = await bake(['-f', 'expr.hcl', 'x']);
    expect(plain.err).toBe('');
    expect(plain.json?.target.x).toMatchObject({
      args: { MODE: 'release', JOBS: '4', BASE: 'reg/base:1', JOINED: 'A,B', LITERAL: '$${HOME}' },
      labels: { 'org.x': 'v1_2_3' },
      tags: ['reg/base:1'],
      'dockerfile-inline': 'FROM scratch\nLABEL x=y\n',
    });
    const overridden = await bake(['-f', 'expr.hcl', 'x'], { DEBUG: 'true', JOBS: '5', NAMES: 'p,q' });
    expect(overridden.json?.target.x?.args).toMatchObject({ MODE: 'debug', JOBS: '10', JOINED: 'P,Q' });
  });

  it('reads examples/bake-ros2: three arm64 targets, ros-core on l4t-base by context, app on ros-core by its BASE_IMAGE', async () => {
    const io = memoryIo({ cwd: join(__dirname, '..', '..', '..', 'examples', 'bake-ros2'), env: { STRATA_ROOT: join(dir, 'no-store') } });
    expect(await main(['bake', '--print'], io)).toBe(0);
    const def = JSON.parse(io.out()) as { target: Record<string, { platforms?: string[]; contexts?: Record<string, string>; args?: Record<string, string>; tags?: string[] }> };
    expect(Object.keys(def.target)).toEqual(['app', 'l4t-base', 'ros-core']);
    for (const t of Object.values(def.target)) expect(t.platforms).toEqual(['linux/arm64']);
    expect(def.target['ros-core']?.contexts).toEqual({ 'l4t-base': 'target:l4t-base' });
    expect(def.target.app?.args?.BASE_IMAGE).toBe(def.target['ros-core']?.tags?.[0]);
    expect(def.target.app?.contexts).toEqual({ ws: '../ros2' });
  });

  it('reports what it cannot read with a code', async () => {
    writeFileSync(join(dir, 'bad.hcl'), 'target "x" {\n  tags = [NOPE]\n}\n');
    const unknownVar = await bake(['-f', 'bad.hcl', 'x']);
    expect(unknownVar.code).toBe(1);
    expect(unknownVar.err).toMatch(/BAKE_EVAL: bad\.hcl: unknown variable NOPE/);
    writeFileSync(join(dir, 'syntax.hcl'), 'target "x" {\n  tags = \n');
    expect((await bake(['-f', 'syntax.hcl'])).err).toMatch(/BAKE_PARSE: syntax\.hcl/);
    expect((await bake(['-f', 'docker-bake.hcl', 'nope'])).err).toMatch(/BAKE_TARGET_UNKNOWN: failed to find target nope/);
    expect((await bake(['-f', 'docker-bake.hcl', '--set', 'app.bogus=1'])).code).toBe(2);
    writeFileSync(join(dir, 'cycle.hcl'), 'target "a" {\n  contexts = { b = "target:b" }\n}\ntarget "b" {\n  contexts = { a = "target:a" }\n}\n');
    expect((await bake(['-f', 'cycle.hcl', 'a'])).err).toMatch(/BAKE_CYCLE/);
  });
});
