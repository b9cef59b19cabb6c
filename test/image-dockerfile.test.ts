/**
 * Static checks of image/Dockerfile and .dockerignore (no Docker engine here): parsed with
 * dockerfile-ast; every RUN must be a project command (serve-cli.test.ts runs them natively) and
 * every COPY source must exist in the build context or be produced by an earlier stage.
 */
import { GZIP_STATIC_SNIPPET, NGINX_CONF, NGINX_CONF_GZIP_STATIC_OFF } from '../src/contract/gzip-static';
import { DockerfileParser, From, Instruction } from 'dockerfile-ast';
import { execFileSync, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { REPO_ROOT } from './support/tools';

const DOCKERFILE = path.join(REPO_ROOT, 'image', 'Dockerfile');
const dockerfile = DockerfileParser.parse(fs.readFileSync(DOCKERFILE, 'utf8'));

interface Stage {
  name: string;
  from: From;
  instructions: Instruction[];
  /** ARG defaults visible in this stage (global ARGs re-declared inside count too). */
  args: Record<string, string>;
}

const globalArgs: Record<string, string> = Object.fromEntries(
  dockerfile.getInitialARGs().map((a) => [a.getProperty()!.getName(), a.getProperty()!.getValue() ?? '']),
);

const stages: Stage[] = dockerfile.getFROMs().map((from) => {
  const image = dockerfile.getContainingImage(from.getRange().start)!;
  const instructions = image.getInstructions();
  const args: Record<string, string> = {};
  for (const i of instructions) {
    if (i.getKeyword() !== 'ARG') continue;
    const [name, value] = (i.getArgumentsContent() ?? '').split('=');
    args[name] = value ?? globalArgs[name] ?? '';
  }
  return { name: from.getBuildStage() ?? '', from, instructions, args };
});

/** Expands ${VAR} / $VAR with the ARG defaults, as a build with no --build-arg would. */
function expand(text: string, vars: Record<string, string>): string {
  return text.replace(
    /\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)/g,
    (_m, a: string | undefined, fallback: string | undefined, b: string | undefined) => {
      const name = (a ?? b)!;
      if (vars[name]) return vars[name];
      if (fallback !== undefined) return fallback;
      if (!(name in vars)) throw new Error(`image/Dockerfile uses $${name} with no ARG default`);
      return vars[name];
    },
  );
}

const keyword = (s: Stage, k: string) => s.instructions.filter((i) => i.getKeyword() === k);
const runtime = () => stages[stages.length - 1];

test('stages: CLI build, two tree sources, one selected tree, unprivileged runtime last', () => {
  expect(stages.map((s) => s.name)).toEqual(['build', 'tree-pull', 'tree-prebuilt', 'tree', 'runtime']);
  // The tree is platform-independent: build it once on the build host for every target platform.
  expect(stages[0].from.getPlatformFlag()?.getValue()).toBe('$BUILDPLATFORM');
  // PLUGINS_FROM picks the tree stage; the default pulls, `prebuilt` is the air-gapped build.
  expect(stages[3].from.getImage()).toBe('tree-${PLUGINS_FROM:-pull}');
  expect(expand(stages[3].from.getImage()!, globalArgs)).toBe('tree-pull');
  expect(expand(stages[3].from.getImage()!, { PLUGINS_FROM: 'prebuilt' })).toBe(stages[2].name);
});

test('base images are build args defaulting to official images', () => {
  expect(stages[0].from.getImage()).toBe('${NODE_IMAGE}');
  expect(runtime().from.getImage()).toBe('${NGINX_IMAGE}');
  expect(globalArgs.NODE_IMAGE).toMatch(/^docker\.io\/library\/node:20[-.\w]*$/);
  // Alpine-based: the helm test runs busybox wget from this very image.
  expect(globalArgs.NGINX_IMAGE).toMatch(/^docker\.io\/nginxinc\/nginx-unprivileged:1\.\d+(\.\d+)?-alpine$/);
  for (const s of stages) {
    const image = s.from.getImage()!;
    const known = ['scratch', ...stages.map((x) => x.name)];
    expect(image.startsWith('$') || known.includes(expand(image, globalArgs))).toBe(true);
  }
});

test('runtime: USER 101, EXPOSE 8080, HEALTHCHECK on /healthz, nginx in the foreground', () => {
  const r = runtime();
  expect(keyword(r, 'USER').map((i) => i.getArgumentsContent())).toEqual(['101']);
  expect(keyword(r, 'EXPOSE').map((i) => i.getArgumentsContent())).toEqual(['8080']);
  const health = keyword(r, 'HEALTHCHECK');
  expect(health).toHaveLength(1);
  expect(health[0].getArgumentsContent()).toContain('http://127.0.0.1:8080/healthz');
  const entry = JSON.parse(keyword(r, 'ENTRYPOINT')[0].getArgumentsContent()!) as string[];
  expect(entry[0]).toBe('nginx');
  expect(entry).toContain('daemon off;');
  // USER comes after every COPY so nothing in the image is owned by the runtime user.
  const lineOf = (i: Instruction) => i.getRange().start.line;
  expect(Math.max(...keyword(r, 'COPY').map(lineOf))).toBeLessThan(lineOf(keyword(r, 'USER')[0]));
});

test('the runtime copies the tree to the root image/nginx.conf serves from', () => {
  const conf = fs.readFileSync(path.join(REPO_ROOT, 'image', 'nginx.conf'), 'utf8');
  const root = /^\s*root\s+([^;]+);/m.exec(conf)![1];
  const copies = keyword(runtime(), 'COPY').map((i) => i.getArguments().map((a) => a.getValue()));
  expect(copies).toContainEqual(['image/nginx.conf', '/etc/nginx/nginx.conf']);
  // /metrics: the njs module goes where nginx.conf's js_path looks for it
  const jsPath = /^\s*js_path\s+([^;]+);/m.exec(conf)![1];
  expect(copies).toContainEqual(['image/njs/', `${jsPath}/`]);
  // plugins/ and oci/ in one COPY, so the hardlinks between them stay links in the layer
  expect(copies).toContainEqual(['/tree/', `${root}/`]);
});

test("nginx.conf twice, beside gzip_static on and off: the configs the chart's gzip.enabled picks", () => {
  const copies = keyword(runtime(), 'COPY').map((i) => i.getArguments().map((a) => a.getValue()));
  const dirOf = (conf: string) => path.posix.dirname(conf);
  const snippetDir = path.posix.dirname(GZIP_STATIC_SNIPPET);
  expect(copies).toContainEqual(['image/nginx.conf', NGINX_CONF]);
  expect(copies).toContainEqual([`image/${snippetDir}/`, `${dirOf(NGINX_CONF)}/${snippetDir}/`]);
  expect(copies).toContainEqual(['image/nginx.conf', NGINX_CONF_GZIP_STATIC_OFF]);
  expect(copies).toContainEqual([
    `image/gzip-static-off/${snippetDir}/`,
    `${dirOf(NGINX_CONF_GZIP_STATIC_OFF)}/${snippetDir}/`,
  ]);
  expect(fs.readdirSync(path.join(REPO_ROOT, 'image', snippetDir))).toEqual([path.posix.basename(GZIP_STATIC_SNIPPET)]);
});

test('every RUN is a project command', () => {
  const allowed = [
    /^npm ci( --no-audit| --no-fund)*$/,
    /^npm pack$/,
    /^npm install -g --prefer-offline --no-audit --no-fund \.\/higress-plugin-server-\*\.tgz && rm -rf build && ln -s "\$\(npm root -g\)\/higress-plugin-server\/build" build$/,
    /^node build\/src\/cli\.js pull \$\{PLUGINS_LIST\} --out \/tree \$\{SNAPSHOT:\+--snapshot "\$SNAPSHOT"\} \$\{UNMANAGED_LOCK:\+--unmanaged-lock "\$UNMANAGED_LOCK"\} \$\{SNAPSHOT_SHA256:\+--snapshot-sha256 "\$SNAPSHOT_SHA256"\} \$\{PULL_FLAGS\}$/,
    /^node build\/src\/cli\.js verify \/tree$/,
  ];
  const runs = stages
    .flatMap((s) => keyword(s, 'RUN'))
    .map((i) => (i.getArgumentsContent() ?? '').replace(/\s+/g, ' ').trim());
  expect(runs.length).toBeGreaterThan(0);
  for (const run of runs) expect(allowed.some((re) => re.test(run)) ? run : `not a project command: ${run}`).toBe(run);
});

/** Minimal .dockerignore evaluation: last matching pattern wins; a pattern also matches a path's parents. */
function ignored(rel: string, patterns: string[]): boolean {
  const toRe = (p: string) =>
    new RegExp(
      `^${p
        .replace(/\/+$/, '')
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\//g, '(?:.*/)?')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')}$`,
    );
  const parts = rel.split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let out = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const re = toRe(negate ? raw.slice(1) : raw);
    if (candidates.some((c) => re.test(c))) out = !negate;
  }
  return out;
}
const dockerignore = fs
  .readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

test('every COPY source exists in the build context or comes from an earlier stage', () => {
  for (const [index, s] of stages.entries()) {
    for (const copy of keyword(s, 'COPY')) {
      const args = copy.getArguments().map((a) => a.getValue());
      const sources = args.slice(0, -1).map((a) => expand(a, { ...globalArgs, ...s.args }));
      const fromFlag = (copy as unknown as { getFromFlag(): { getValue(): string } | null }).getFromFlag();
      if (fromFlag) {
        const from = stages.findIndex((x) => x.name === fromFlag.getValue());
        expect(from).toBeGreaterThanOrEqual(0);
        expect(from).toBeLessThan(index);
        // Every stage `tree` can be must write the source path: `pull --out /tree` or COPY ... /tree/.
        const producers = stages.filter((x) => x.name.startsWith('tree-'));
        for (const p of producers) {
          const writes = p.instructions
            .map((i) => i.getArgumentsContent() ?? '')
            .some((t) => /--out \/tree\b|\s\/tree\/$/.test(t));
          expect(writes ? p.name : `${p.name} does not produce /tree`).toBe(p.name);
        }
        for (const src of sources) expect(src.startsWith('/tree/')).toBe(true);
        continue;
      }
      for (const src of sources) {
        const rel = path.normalize(src).replace(/\/+$/, '');
        expect(fs.existsSync(path.join(REPO_ROOT, rel)) ? rel : `missing COPY source ${rel}`).toBe(rel);
        expect(ignored(rel, dockerignore) ? `${rel} is excluded by .dockerignore` : rel).toBe(rel);
      }
    }
  }
});

test('the default plugin lists are both shipped lists, inside the context', () => {
  const lists = stages[1].args.PLUGINS_LIST.replace(/^"|"$/g, '').split(/\s+/);
  // Both: the upstream image's URL set and the Console's (test/image-defaults.test.ts serves them).
  expect(lists).toEqual(['image/plugins.properties', 'image/console.plugins.properties']);
  for (const list of lists) {
    expect(fs.existsSync(path.join(REPO_ROOT, list))).toBe(true);
    expect(ignored(list, dockerignore)).toBe(false);
  }
});

test("the default snapshot and unmanaged lock are Higress 2.2.4's, byte for byte, inside the context", () => {
  const args = stages[1].args;
  const reference = path.join(REPO_ROOT, 'test', 'fixtures', 'reference');
  expect([args.SNAPSHOT, args.UNMANAGED_LOCK]).toEqual(['image/snapshot.json', 'image/unmanaged-plugins.lock.json']);
  expect(fs.readFileSync(path.join(REPO_ROOT, args.SNAPSHOT))).toEqual(
    fs.readFileSync(path.join(reference, 'higress-plugin-snapshot-2.2.4.json')),
  );
  expect(fs.readFileSync(path.join(REPO_ROOT, args.UNMANAGED_LOCK))).toEqual(
    fs.readFileSync(path.join(reference, 'unmanaged-plugins.lock.json')),
  );
  for (const f of [args.SNAPSHOT, args.UNMANAGED_LOCK]) expect(ignored(f, dockerignore)).toBe(false);
});

test('.dockerignore keeps dependencies, tools and outputs out of the context', () => {
  for (const p of [
    'node_modules',
    'node_modules/yaml/package.json',
    '.tools/bin/helm',
    'build/src/cli.js',
    'charts',
    'dist',
    'test/fixtures',
    '.git',
    'BENCHMARKS.md',
    // The chart generator: the CLI never imports it (test/scripts-import-layers.test.ts).
    'main.ts',
    'lib/values.ts',
  ]) {
    expect(ignored(p, dockerignore) ? p : `${p} reaches the build context`).toBe(p);
  }
  for (const p of [
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'src/cli.ts',
    'image/nginx.conf',
    'image/plugins.properties',
    'image/prebuilt/plugins/index.json',
  ]) {
    expect(ignored(p, dockerignore) ? `${p} is excluded` : p).toBe(p);
  }
});

test('npm ci can run: package-lock.json is in sync with package.json', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as Record<
    string,
    Record<string, string>
  >;
  const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, Record<string, Record<string, string>>>;
  };
  expect(lock.packages[''].dependencies ?? {}).toEqual(pkg.dependencies ?? {});
  expect(lock.packages[''].devDependencies ?? {}).toEqual(pkg.devDependencies ?? {});
});

test('the air-gapped path fetches nothing: no syntax directive, prebuilt tree stage is a plain COPY', () => {
  // A `# syntax=` line would make BuildKit pull a frontend image even for an offline build.
  expect(dockerfile.getDirectives().filter((d) => d.getName().toLowerCase() === 'syntax')).toEqual([]);
  const prebuilt = stages.find((s) => s.name === 'tree-prebuilt')!;
  expect(prebuilt.from.getImage()).toBe('scratch');
  expect(keyword(prebuilt, 'RUN')).toEqual([]);
  expect(prebuilt.args.PREBUILT_TREE).toBe('image/prebuilt');
});

test('the build stage packs and installs the CLI from exactly the files it COPYs (its RUN steps, run natively)', () => {
  const build = stages[0];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-docker-build-'));
  try {
    for (const copy of keyword(build, 'COPY')) {
      const args = copy.getArguments().map((a) => a.getValue());
      const dest = args[args.length - 1];
      for (const src of args.slice(0, -1)) {
        // Docker semantics: a folder's contents go into `dest/`, a file into `dest/<name>`.
        const isDir = fs.statSync(path.join(REPO_ROOT, src)).isDirectory();
        const target = dest.endsWith('/')
          ? path.join(dir, dest, isDir ? '' : path.basename(src))
          : path.join(dir, dest);
        fs.cpSync(path.join(REPO_ROOT, src), target, { recursive: true });
      }
    }
    // `npm ci` would install the same locked tree the repository already has.
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    const runs = keyword(build, 'RUN').map((r) => r.getArgumentsContent() ?? '');
    expect(runs[0]).toMatch(/^npm ci\b/);
    // The image's global prefix, moved into the temp folder (npm honours npm_config_prefix for both
    // `install -g` and `root -g`); dependencies come from the local npm cache.
    const env = { ...process.env, npm_config_prefix: path.join(dir, 'prefix') };
    for (const cmd of runs.slice(1)) execFileSync('bash', ['-c', cmd], { cwd: dir, stdio: 'pipe', env });
    // build/ is the installed package, not the compile output next to the sources.
    const installed = fs.realpathSync(path.join(dir, 'build'));
    expect(installed).toBe(path.join(dir, 'prefix', 'lib', 'node_modules', 'higress-plugin-server', 'build'));
    const help = execFileSync(process.execPath, [path.join(dir, 'build', 'src', 'cli.js'), '--help'], {
      encoding: 'utf8',
    });
    expect(help).toMatch(/pull \[options\] \[lists\.\.\.\]/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('provenance: the build arguments and labels the Higress release workflow requires', () => {
  const PROVENANCE = ['SNAPSHOT_SHA256', 'HIGRESS_SOURCE_COMMIT', 'PLUGIN_SERVER_SOURCE_COMMIT', 'GATEWAY_VERSION'];
  const labels = () =>
    Object.fromEntries(
      keyword(runtime(), 'LABEL').flatMap((i) =>
        (i as unknown as { getProperties(): Array<{ getName(): string; getValue(): string | null }> })
          .getProperties()
          .map((p) => [p.getName(), p.getValue() ?? '']),
      ),
    );

  test('the runtime stage declares the four ARGs and sets the four labels from them', () => {
    for (const a of PROVENANCE) expect(runtime().args).toHaveProperty(a, '');
    expect(labels()).toMatchObject({
      'org.opencontainers.image.revision': '${PLUGIN_SERVER_SOURCE_COMMIT}',
      'io.higress.higress-source-commit': '${HIGRESS_SOURCE_COMMIT}',
      'io.higress.plugin-snapshot-sha256': '${SNAPSHOT_SHA256}',
      'io.higress.gateway-version': '${GATEWAY_VERSION}',
    });
    // Each label names its ARG, so a build with the arguments gets the values.
    const values = {
      SNAPSHOT_SHA256: 'a'.repeat(64),
      HIGRESS_SOURCE_COMMIT: 'h',
      PLUGIN_SERVER_SOURCE_COMMIT: 'p',
      GATEWAY_VERSION: '2.2.4',
    };
    expect(expand(labels()['io.higress.gateway-version'], values)).toBe('2.2.4');
    expect(expand(labels()['org.opencontainers.image.revision'], values)).toBe('p');
  });

  test('the tree-pull stage passes SNAPSHOT, UNMANAGED_LOCK and SNAPSHOT_SHA256 to pull only when set', () => {
    const pull = stages[1];
    // The defaults are the image's inputs (the 2.2.4 snapshot build); an empty value drops the flag.
    expect(pull.args).toHaveProperty('SNAPSHOT', 'image/snapshot.json');
    expect(pull.args).toHaveProperty('UNMANAGED_LOCK', 'image/unmanaged-plugins.lock.json');
    expect(pull.args).toHaveProperty('SNAPSHOT_SHA256', '');
    const run = keyword(pull, 'RUN')[0]
      .getArgumentsContent()!
      .replace(/^--mount=\S+\s+/, '');
    // The shell the RUN line runs under, with `node` standing in for echo: the argument list pull gets.
    const argv = (env: Record<string, string>) =>
      execFileSync('sh', ['-c', `node() { shift; printf '%s\\n' "$@"; }; ${run.replace(/\\\n/g, ' ')}`], {
        env: { PATH: process.env.PATH, PLUGINS_LIST: 'image/plugins.properties', PULL_FLAGS: '', ...env },
      })
        .toString()
        .trim()
        .split('\n');
    expect(argv({})).toEqual(['pull', 'image/plugins.properties', '--out', '/tree']);
    expect(
      argv({
        SNAPSHOT: 'image/snapshot.json',
        UNMANAGED_LOCK: 'image/unmanaged-plugins.lock.json',
        SNAPSHOT_SHA256: 'abc',
      }),
    ).toEqual([
      'pull',
      'image/plugins.properties',
      '--out',
      '/tree',
      '--snapshot',
      'image/snapshot.json',
      '--unmanaged-lock',
      'image/unmanaged-plugins.lock.json',
      '--snapshot-sha256',
      'abc',
    ]);
  });

  test("the build fails when the snapshot's sha256 is not SNAPSHOT_SHA256, and passes when it is (the RUN line, run natively)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-docker-snapshot-'));
    try {
      // build/ as the build stage leaves it (the global setup compiled it); a snapshot serving nothing
      // and a list with one file: plugin, so the successful case needs no registry.
      fs.symlinkSync(path.join(REPO_ROOT, 'build'), path.join(dir, 'build'));
      fs.copyFileSync(path.join(REPO_ROOT, 'examples', 'add-header', 'plugin.wasm'), path.join(dir, 'plugin.wasm'));
      fs.writeFileSync(path.join(dir, 'list.properties'), 'add-header=file:plugin.wasm@1.0.0\n');
      const snapshot = '{"schemaVersion": 1, "gatewayVersion": "2.2.4", "plugins": []}\n';
      fs.writeFileSync(path.join(dir, 'snapshot.json'), snapshot);
      const sha = crypto.createHash('sha256').update(snapshot).digest('hex');
      const run = keyword(stages[1], 'RUN')[0]
        .getArgumentsContent()!
        .replace(/^--mount=\S+\s+/, '')
        .replace(/\\\n/g, ' ')
        .replace('/tree', `${dir}/tree`);
      const build = (SNAPSHOT_SHA256: string) =>
        spawnSync('sh', ['-c', run], {
          cwd: dir,
          env: {
            PATH: process.env.PATH,
            PLUGINS_LIST: 'list.properties',
            PULL_FLAGS: '',
            SNAPSHOT: 'snapshot.json',
            SNAPSHOT_SHA256,
          },
        });
      const wrong = build('0'.repeat(64));
      expect(wrong.stderr.toString()).toContain(
        `snapshot.json: sha256 is ${sha}, --snapshot-sha256 says ${'0'.repeat(64)}`,
      );
      expect(wrong.status).toBe(3);
      expect(fs.existsSync(path.join(dir, 'tree'))).toBe(false);
      const right = build(sha);
      expect(right.stderr.toString()).toMatch(/^ok: 1 plugin version/m);
      expect(right.status).toBe(0);
      expect(fs.readFileSync(path.join(dir, 'tree', 'plugins', 'snapshot-inventory.json'), 'utf8')).toBe('{}\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
