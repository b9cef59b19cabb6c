/**
 * The CLI as a contract scripts rely on: one documented exit code per outcome, `--json` events that
 * validate against docs/cli-events.schema.json, a closed stdout that ends quietly, and no command
 * that overwrites a file it did not write.
 */
import { execFile, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import Ajv from 'ajv';
import { exitCodeForError } from '../src/cli';
import { EXIT, EXIT_MEANINGS } from '../src/errors';
import { runCli } from './support/cli-run';
import { freePort } from './support/ports';
import { REPO_ROOT } from './support/tools';
import { editInPlace, treeState } from './support/tree-state';
import { smallWasm } from './support/wasm';

const CLI = path.join(REPO_ROOT, 'build', 'src', 'cli.js');
const validate = new Ajv({ allErrors: true, strict: false }).compile(
  JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'docs', 'cli-events.schema.json'), 'utf8')),
);

let dir: string;
let list: string;
let tree: string;

function events(stdout: string): Array<Record<string, unknown>> {
  const lines = stdout.trim().split('\n').filter(Boolean);
  return lines.map((l) => {
    const e = JSON.parse(l) as Record<string, unknown>;
    if (!validate(e)) throw new Error(`${l} does not follow the schema: ${JSON.stringify(validate.errors)}`);
    return e;
  });
}

function sha(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-contract-'));
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'wasm'));
  fs.copyFileSync(await smallWasm(), path.join(dir, 'wasm', 'small.wasm'));
  fs.writeFileSync(path.join(dir, 'wasm', 'text.wasm'), 'not a module');
  list = path.join(dir, 'mylist.properties');
  fs.writeFileSync(list, 'a=file:wasm/small.wasm@1.0.0\nb=file:wasm/small.wasm@2.0.0\nc=file:wasm/small.wasm@3.0.0\n');
  tree = path.join(dir, 'tree');
  expect((await runCli('pull', list, '--out', tree)).code).toBe(EXIT.ok);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('one exit code per outcome (README table, --help)', () => {
  test('0 ok', async () => {
    expect((await runCli('verify', tree)).code).toBe(EXIT.ok);
  });
  test('1 internal: an unexpected error is a bug, not a user error', () => {
    const err = { write: () => true } as unknown as NodeJS.WritableStream;
    expect(exitCodeForError(new TypeError('boom'), [], err)).toBe(EXIT.internal);
  });
  test('2 usage: bad option value, unknown option', async () => {
    expect((await runCli('pull', list, '--out', tree, '--gzip-level', '10')).code).toBe(EXIT.usage);
    expect((await runCli('pull', list, '--out', tree, '--no-such-flag')).code).toBe(EXIT.usage);
    expect((await runCli('serve', tree, '--host', '0.0.0.0')).code).toBe(EXIT.usage);
  });
  test('2 usage: one line and a pointer to --help, whatever stderr is connected to (piped into head)', () => {
    for (const args of [
      ['pull', list, '--out', tree, '--no-such-flag'],
      ['serve', tree, '--port', 'x'],
      ['no-such-command'],
    ]) {
      const quoted = args.map((a) => `'${a}'`).join(' ');
      // As a user's shell would: stderr into a closed pipe, and into a terminal-less file.
      const piped = spawnSync('bash', ['-c', `node '${CLI}' ${quoted} 2>&1 | head -1; echo "rc=\${PIPESTATUS[0]}"`], {
        encoding: 'utf8',
      });
      expect(piped.stdout).toMatch(/^error: .*\nrc=2\n$/);
      const plain = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
      expect(plain.status).toBe(EXIT.usage);
      const lines = plain.stderr.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^error: /);
      expect(lines[1]).toMatch(/^\(run `higress-plugin-server( [a-z]+)? --help` for usage\)$/);
    }
  });
  test('every command: its help has one style (lowercase description, no final period) and ends with the exit codes', () => {
    const overview = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    const commands = [...overview.stdout.matchAll(/^ {2}([a-z]+) .*$/gm)].map((m) => m[1]).filter((c) => c !== 'help');
    expect(commands.length).toBeGreaterThanOrEqual(8);
    for (const command of commands) {
      const help = spawnSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8' });
      expect(help.status).toBe(0);
      const description = help.stdout.split('\n\n')[1].trim();
      expect(`${command}: ${description}`).toMatch(new RegExp(`^${command}: [a-z].*[^.]$`, 's'));
      expect(`${command}: ${help.stdout.trimEnd().split('\n').pop()}`).toMatch(new RegExp(`^${command}: +130 `));
    }
  });
  test('2 usage: --registry-map with an oci-layout: source is refused before anything is read or written', async () => {
    const out = path.join(dir, 'never-written');
    const r = await runCli(
      'pull',
      `oci-layout:${path.join(dir, 'no-such-bundle.tar')}`,
      '--out',
      out,
      '--registry-map',
      'a.example=b.example',
    );
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain('--registry-map does not apply to an oci-layout: source');
    expect(fs.existsSync(out)).toBe(false);
  });
  test('3 input: a bad list line', async () => {
    const bad = path.join(dir, 'bad.properties');
    fs.writeFileSync(bad, 'nope\n');
    const r = await runCli('pull', bad, '--out', tree);
    expect(r.code).toBe(EXIT.input);
    expect(r.stderr).toMatch(/bad\.properties:1: no "="/);
  });
  test('4 registry: a registry that refuses connections', async () => {
    const port = await freePort();
    const l = path.join(dir, 'reg.properties');
    fs.writeFileSync(l, `x=oci://127.0.0.1:${port}/plugins/x:1.0.0\n`);
    const r = await runCli('pull', l, '--out', path.join(dir, 'reg-out'), '--timeout', '2');
    expect(r.code).toBe(EXIT.registry);
    expect(r.stderr).toMatch(/E_REGISTRY_CONNECTION/);
  });
  test('5 integrity: a payload that is not Wasm', async () => {
    const l = path.join(dir, 'text.properties');
    fs.writeFileSync(l, 'x=file:wasm/text.wasm@1.0.0\n');
    expect((await runCli('pull', l, '--out', path.join(dir, 'text-out'))).code).toBe(EXIT.integrity);
  });
  test('6 verify: a tampered tree', async () => {
    const t = path.join(dir, 'tampered');
    fs.cpSync(tree, t, { recursive: true });
    editInPlace(path.join(t, 'plugins/a/1.0.0/plugin.wasm'), 'x', 'append');
    expect((await runCli('verify', t)).code).toBe(EXIT.verify);
  });
  test('7 environment: the lock path is a directory', async () => {
    const r = await runCli('pull', list, '--out', tree, '--write-lock', path.join(dir, 'wasm'));
    expect(r.code).toBe(EXIT.environment);
    expect(r.stderr).toMatch(/is a directory: give a file path/);
  });
  test('8 partial: --keep-going published some, others failed', async () => {
    const l = path.join(dir, 'kg.properties');
    fs.writeFileSync(l, 'good=file:wasm/small.wasm@1.0.0\nbad=file:wasm/text.wasm@1.0.0\n');
    const r = await runCli('pull', l, '--out', path.join(dir, 'kg-out'), '--keep-going');
    expect(r.code).toBe(EXIT.partial);
    // One line per failed plugin, and the counts add up.
    expect(r.stderr.split('\n').filter((x) => x.includes('bad@1.0.0'))).toHaveLength(1);
    expect(r.stderr).toMatch(/2 plugin version\(s\): 0 downloaded, 1 copied from files, 0 aliases, 0 cached, 1 failed/);
  });
  test('--help lists every exit code', async () => {
    const r = await runCli('pull', '--help');
    expect(r.code).toBe(EXIT.ok);
    for (const [name] of EXIT_MEANINGS) expect(r.stdout).toMatch(new RegExp(`^\\s+${EXIT[name]}\\s`, 'm'));
  });
  test('the README lists every exit code', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    for (const [name, text] of EXIT_MEANINGS)
      expect(readme).toContain(`| ${EXIT[name]} | ${name} | ${text.replace(/\|/g, '\\|')} |`);
  });
});

describe('--json: only schema-valid JSON lines on stdout, human lines on stderr', () => {
  test('pull, verify, index and a usage error', async () => {
    const p = await runCli('pull', list, '--out', tree, '--json');
    const pe = events(p.stdout);
    expect(pe.at(-1)).toMatchObject({
      event: 'summary',
      command: 'pull',
      ok: true,
      exitCode: 0,
      counts: { cached: 3, failed: 0 },
    });
    expect(p.stderr).toMatch(/^ok: 3 plugin version\(s\)/m);
    expect(events((await runCli('verify', tree, '--json')).stdout).at(-1)).toMatchObject({
      event: 'summary',
      command: 'verify',
      ok: true,
    });
    fs.copyFileSync(path.join(dir, 'wasm', 'small.wasm'), path.join(tree, 'plugins', 'loose.wasm'));
    const i = events((await runCli('index', tree, '--json')).stdout);
    expect(i).toContainEqual({
      event: 'skipped',
      command: 'index',
      path: 'plugins/loose.wasm',
      reason: expect.any(String),
    });
    fs.rmSync(path.join(tree, 'plugins', 'loose.wasm'));
    const u = await runCli('pull', list, '--out', tree, '--json', '--gzip-level', 'x');
    expect(events(u.stdout)).toEqual([expect.objectContaining({ event: 'problem', command: 'pull', code: 'E_USAGE' })]);
  });
  test('input errors and failures carry their code', async () => {
    const bad = path.join(dir, 'bad2.properties');
    fs.writeFileSync(bad, 'nope\nx=file:wasm/text.wasm@1.0.0\n');
    const r = await runCli('pull', bad, '--out', tree, '--json');
    expect(
      events(r.stdout)
        .filter((e) => e.event === 'problem')
        .map((e) => e.code),
    ).toEqual(['E_PROPERTIES_SYNTAX']);
    fs.writeFileSync(bad, 'x=file:wasm/text.wasm@1.0.0\n');
    const f = events((await runCli('pull', bad, '--out', path.join(dir, 'f-out'), '--json')).stdout);
    expect(f.find((e) => e.status === 'failed')).toMatchObject({ code: 'E_NOT_WASM', name: 'x' });
  });
  test('check: a server address without a scheme is a URL; its problem is an event', async () => {
    const port = await freePort();
    const r = await runCli('check', `127.0.0.1:${port}`, '--json');
    const e = events(r.stdout);
    expect(e[0]).toMatchObject({
      event: 'problem',
      command: 'check',
      code: 'E_INDEX_UNREACHABLE',
      url: `http://127.0.0.1:${port}/plugins/index.json`,
    });
  });
  test('a closed stdout (`| head -1`) ends quietly and leaves no temp folder', () => {
    const out = path.join(dir, 'head-out');
    const r = spawnSync('sh', ['-c', `node "${CLI}" pull "${list}" --out "${out}" --json | head -1`], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(events(r.stdout)).toHaveLength(1);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+|Error:/);
    expect(fs.readdirSync(out).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });
});

describe('no command overwrites a file it did not write', () => {
  test('`pull --lock mylist.properties` (old spelling) reads the list; the list stays byte-identical', async () => {
    const before = sha(list);
    // The old `--lock` flag followed by a list: a file that is not JSON is the list, as before.
    const r = await runCli('pull', '--lock', list, '--out', path.join(dir, 'lock-out'));
    expect(r.code).toBe(EXIT.ok);
    expect(r.stderr).toMatch(/^warning: .* is not a lock file, so it is read as a plugin list .*--write-lock/m);
    expect(sha(list)).toBe(before);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'plugins.lock.json'), 'utf8')).plugins).toHaveLength(3);
  });
  test('`--write-lock image/plugins.properties` is refused before any download', async () => {
    fs.mkdirSync(path.join(dir, 'image'), { recursive: true });
    const shipped = path.join(dir, 'image', 'plugins.properties');
    fs.copyFileSync(list, shipped);
    const before = sha(shipped);
    const out = path.join(dir, 'refused-out');
    const r = await runCli('pull', list, '--out', out, '--write-lock', shipped);
    expect(r.code).toBe(EXIT.input);
    expect(r.stderr).toMatch(/exists and is not a lock file written by this tool/);
    expect(sha(shipped)).toBe(before);
    expect(fs.existsSync(out)).toBe(false);
  });
  test('a read-only lock path is refused before publishing; tree and lock byte-identical', async () => {
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro);
    fs.writeFileSync(path.join(ro, 'plugins.lock.json'), fs.readFileSync(path.join(dir, 'plugins.lock.json')));
    fs.chmodSync(path.join(ro, 'plugins.lock.json'), 0o444);
    fs.chmodSync(ro, 0o555);
    const out = path.join(dir, 'ro-out');
    fs.mkdirSync(out);
    fs.chmodSync(out, 0o777);
    const lockBefore = sha(path.join(ro, 'plugins.lock.json'));
    const stateBefore = treeState(out, { mtimes: true });
    // Root may write anywhere: run the real CLI as an unprivileged user then.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = await promisify(execFile)(
      process.execPath,
      [CLI, 'pull', list, '--out', out, '--write-lock', path.join(ro, 'plugins.lock.json')],
      { ...asUser, cwd: dir },
    ).catch((e: { code: number; stderr: string }) => e);
    expect(r).toMatchObject({ code: EXIT.environment, stderr: expect.stringMatching(/E?ACCES.*plugins\.lock\.json/) });
    expect(sha(path.join(ro, 'plugins.lock.json'))).toBe(lockBefore);
    expect(treeState(out, { mtimes: true })).toEqual(stateBefore);
  });
  test('--prune --dry-run lists what would go and changes nothing; --prune lists what it removed', async () => {
    const t = path.join(dir, 'prune');
    fs.cpSync(tree, t, { recursive: true });
    const one = path.join(dir, 'one.properties');
    fs.writeFileSync(one, 'a=file:wasm/small.wasm@1.0.0\n');
    const before = treeState(t, { mtimes: true });
    const dry = await runCli('pull', one, '--out', t, '--prune', '--dry-run');
    expect(dry.stderr).toMatch(/would prune b@2\.0\.0\nwould prune c@3\.0\.0/);
    expect(treeState(t, { mtimes: true })).toEqual(before);
    const real = await runCli('pull', one, '--out', t, '--prune');
    expect(real.code).toBe(EXIT.ok);
    expect(real.stderr).toMatch(/pruned\s+b@2\.0\.0/);
    expect(real.stderr).toMatch(/pruned\s+c@3\.0\.0/);
  });
});
