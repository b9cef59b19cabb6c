/**
 * image/nginx.conf as shipped: `nginx -t` with its real paths, the rewrite used by serve/tests/bench,
 * and the properties the image relies on that a request cannot show (no `user`, only the njs module).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GZIP_STATIC_SNIPPET, gzipStaticSnippet } from '../src/contract/gzip-static';
import { InputError } from '../src/errors';
import { NginxRewrite, rewriteNginxConfig } from '../src/serve/nginx-config';
import { nginxModulesDir, shippedConfigPath, shippedNjsDir } from '../src/serve/nginx-runtime';
import { REPO_ROOT, tool } from './support/tools';

const CONF = path.join(REPO_ROOT, 'image', 'nginx.conf');
const text = fs.readFileSync(CONF, 'utf8');
const opts: NginxRewrite = { root: '/srv/tree', host: '127.0.0.1', port: 18080, runtimeDir: '/run/hps x' };
/** What serve and the tests add for the nginx they run: its modules folder and the repository's image/njs. */
const modules = (): Pick<NginxRewrite, 'modulesDir' | 'njsDir'> => ({
  modulesDir: nginxModulesDir(tool('nginx')),
  njsDir: shippedNjsDir(),
});
/** Directives outside comments, one per `;`-terminated line. */
const afterCleanup: Array<() => void> = [];
afterAll(() => afterCleanup.forEach((f) => f()));
const directives = (t: string) =>
  t
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);

test('nginx -t passes on the config as shipped (tolerating only missing runtime folders)', () => {
  // Run as root, `nginx -t` creates the config's /tmp temp folders: remove the ones it created.
  const tempDirs = [...text.matchAll(/_temp_path\s+(\/tmp\/[^;\s]+);/g)]
    .map((m) => m[1])
    .filter((d) => !fs.existsSync(d));
  afterCleanup.push(() =>
    tempDirs.forEach((d) => {
      try {
        fs.rmdirSync(d); // only when still empty
      } catch {
        /* gone or in use */
      }
    }),
  );
  // The prefix as in the image: a modules folder next to the config (there /etc/nginx/modules).
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-prefix-'));
  afterCleanup.push(() => fs.rmSync(prefix, { recursive: true, force: true }));
  fs.symlinkSync(nginxModulesDir(tool('nginx'))!, path.join(prefix, 'modules'));
  // The one line changed: js_path names the folder the Dockerfile copies image/njs to (/etc/nginx/njs).
  const conf = path.join(prefix, 'nginx.conf');
  expect(text).toContain('js_path /etc/nginx/njs;');
  fs.writeFileSync(conf, text.replace('js_path /etc/nginx/njs;', `js_path "${shippedNjsDir()}";`));
  // stdout is /dev/null, not a socket: nginx cannot open /dev/stdout when it is a socket (libuv pipes).
  const r = spawnSync(tool('nginx'), ['-t', '-p', prefix, '-c', conf, '-e', 'stderr'], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const problems = r.stderr
    .split('\n')
    .filter((l) => /\[(emerg|alert|crit|error)\]/.test(l))
    // The only thing this machine may lack that the image has: the folders under /tmp and the root.
    .filter((l) => !/(\/tmp\/|\/usr\/share\/nginx\/html).*(No such file|Permission denied)/.test(l));
  expect(problems).toEqual([]);
  if (r.status !== 0) expect(r.stderr).toMatch(/No such file|Permission denied/);
});

test('the shipped config is the one serve finds', () => {
  expect(shippedConfigPath()).toBe(CONF);
});

test('unprivileged and stock: no user, one module (njs, for /metrics), only /tmp is written', () => {
  const d = directives(text);
  expect(d.some((l) => /^user\s/.test(l))).toBe(false);
  expect(d.filter((l) => /^load_module\s/.test(l))).toEqual(['load_module modules/ngx_http_js_module.so;']);
  expect(d.some((l) => /^(lua_|perl)/.test(l))).toBe(false);
  expect(d).toContain('js_path /etc/nginx/njs;');
  // The only includes are the OCI view's map files, data the pipeline writes into the tree (no
  // mime.types), and the gzip_static switch beside the config (src/contract/gzip-static.ts).
  expect(d.filter((l) => /^include\s/.test(l))).toEqual([
    ...['manifests', 'blobs', 'repositories', 'pagestarts', 'pagelinks'].map(
      (m) => `include /usr/share/nginx/html/oci/nginx/${m}.map*;`,
    ),
    `include ${GZIP_STATIC_SNIPPET};`,
  ]);
  expect(d).toContain('listen 8080 default_server backlog=4096;');
  expect(d).toContain('server_tokens off;');
  expect(d).toContain('pid /tmp/nginx.pid;');
  for (const l of d.filter((x) => /_temp_path\s/.test(x))) expect(l).toMatch(/ \/tmp\//);
  // Dynamic gzip is never on; the precompressed files are used instead.
  expect(d.filter((l) => /^gzip\s/.test(l))).toEqual(['gzip off;']);
  // gzip_static comes from the snippet: on beside image/nginx.conf, off in the image's other copy.
  expect(d.some((l) => /^gzip_static\s/.test(l))).toBe(false);
  expect(fs.readFileSync(path.join(REPO_ROOT, 'image', GZIP_STATIC_SNIPPET), 'utf8')).toBe(gzipStaticSnippet(true));
  expect(fs.readFileSync(path.join(REPO_ROOT, 'image', 'gzip-static-off', GZIP_STATIC_SNIPPET), 'utf8')).toBe(
    gzipStaticSnippet(false),
  );
  expect(d).toContain('access_log /dev/stdout json;');
  expect(d).toContain('error_log stderr warn;');
});

test('nginx -V has the modules the config uses (gzip_static)', () => {
  const v = spawnSync(tool('nginx'), ['-V'], { encoding: 'utf8' });
  expect(v.stderr).toContain('--with-http_gzip_static_module');
});

describe('rewriteNginxConfig', () => {
  const out = rewriteNginxConfig(text, opts);
  const d = directives(out);

  test('changes only root (and the tree files included from it), listen, pid and temp paths', () => {
    expect(d).toContain('root "/srv/tree";');
    expect(d).toContain('listen 127.0.0.1:18080 default_server backlog=4096;');
    expect(d).toContain('pid "/run/hps x/nginx.pid";');
    expect(d).toContain('client_body_temp_path "/run/hps x/nginx-client-body";');
    expect(out).not.toContain('/usr/share/nginx/html');
    expect(out).not.toMatch(/[ "]\/tmp\//);
    const before = text.split('\n');
    const after = out.split('\n');
    expect(after).toHaveLength(before.length);
    const changed = before.map((l, i) => (l === after[i] ? null : l.trim().split(/\s+/)[0])).filter(Boolean);
    expect(changed.sort()).toEqual([
      'client_body_temp_path',
      'fastcgi_temp_path',
      'include',
      'include',
      'include',
      'include',
      'include',
      'listen',
      'pid',
      'proxy_temp_path',
      'root',
      'scgi_temp_path',
      'uwsgi_temp_path',
    ]);
    // the OCI view's maps follow the root
    expect(d).toContain('include "/srv/tree/oci/nginx/manifests.map*";');
  });

  test('the njs module and its folder follow the nginx that runs the config', () => {
    const o = directives(rewriteNginxConfig(text, { ...opts, modulesDir: '/opt/ng/modules', njsDir: '/r/image/njs' }));
    expect(o).toContain('load_module "/opt/ng/modules/ngx_http_js_module.so";');
    expect(o).toContain('js_path "/r/image/njs";');
    // njs compiled into the nginx: no load_module at all
    const builtIn = directives(rewriteNginxConfig(text, { ...opts, modulesDir: null }));
    expect(builtIn.filter((l) => l.startsWith('load_module'))).toEqual([]);
  });

  test('options: access log, worker count and a user for root-run masters', () => {
    const o = rewriteNginxConfig(text, { ...opts, accessLog: 'off', workerProcesses: 2, user: 'root' });
    expect(o.split('\n')[0]).toBe('user root;');
    // `access_log off` would switch the metrics log off too: the JSON log is left out instead.
    expect(directives(o)).not.toContain('access_log /dev/stdout json;');
    expect(directives(o)).toContain('access_log /dev/null hps_metrics if=$hps_metrics_record;');
    expect(directives(o)).toContain('worker_processes 2;');
    expect(directives(rewriteNginxConfig(text, { ...opts, accessLog: '/x/a.log' }))).toContain(
      'access_log "/x/a.log" json;',
    );
  });

  test('the result passes nginx -t', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-conf-'));
    try {
      fs.mkdirSync(path.join(dir, 'tree'));
      const conf = path.join(dir, 'nginx.conf');
      fs.writeFileSync(
        conf,
        rewriteNginxConfig(text, { ...opts, ...modules(), root: path.join(dir, 'tree'), runtimeDir: dir }),
      );
      fs.cpSync(path.join(REPO_ROOT, 'image', 'plugin-server'), path.join(dir, 'plugin-server'), { recursive: true });
      execFileSync(tool('nginx'), ['-t', '-q', '-p', dir, '-e', 'stderr', '-c', conf], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([
    [
      'a missing root',
      text.replace(/^\s*root .*$/m, ''),
      /image\/nginx\.conf: expected exactly one `root` directive, found 0/,
    ],
    [
      'a temp path outside /tmp',
      text.replace('pid /tmp/nginx.pid;', 'pid /var/run/nginx.pid;'),
      /image\/nginx\.conf:\d+: pid must point under \/tmp/,
    ],
    ['a user directive', `user nginx;\n${text}`, /image\/nginx\.conf:1: the shipped config must not set `user`/],
  ])('rejects %s with a typed error naming the file and line', (_label, bad, message) => {
    let err: unknown;
    try {
      rewriteNginxConfig(bad, opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).toLine()).toMatch(message);
  });

  test('issue 27 class 10: an IPv6 host is written [::1]:port (with or without brackets) and passes nginx -t', () => {
    for (const host of ['::1', '[::1]']) {
      expect(directives(rewriteNginxConfig(text, { ...opts, host }))).toContain(
        'listen [::1]:18080 default_server backlog=4096;',
      );
    }
    // The old code wrote `listen ::1:18080`, which Nginx refuses ("invalid port").
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-conf6-'));
    try {
      fs.mkdirSync(path.join(dir, 'tree'));
      const conf = path.join(dir, 'nginx.conf');
      fs.writeFileSync(
        conf,
        rewriteNginxConfig(text, {
          ...opts,
          ...modules(),
          host: '::1',
          accessLog: 'off',
          root: path.join(dir, 'tree'),
          runtimeDir: dir,
        }),
      );
      fs.cpSync(path.join(REPO_ROOT, 'image', 'plugin-server'), path.join(dir, 'plugin-server'), { recursive: true });
      const r = spawnSync(tool('nginx'), ['-t', '-q', '-p', dir, '-e', 'stderr', '-c', conf], { encoding: 'utf8' });
      // njs logs its VM start at notice level while the config is read (before error_log applies).
      expect(r.stderr.split('\n').filter((l) => l && !/\[notice\] \d+#\d+: js vm init/.test(l))).toEqual([]);
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    for (const bad of ['[127.0.0.1]', '[::1', '::1]', '1:2', 'a b', '[]'])
      expect(() => rewriteNginxConfig(text, { ...opts, host: bad })).toThrow(/E_SERVE_HOST|is not an IPv4 address/);
  });

  test('rejects relative folders, bad ports and unquotable paths', () => {
    expect(() => rewriteNginxConfig(text, { ...opts, root: 'tree' })).toThrow(InputError);
    expect(() => rewriteNginxConfig(text, { ...opts, port: 70000 })).toThrow(/not a TCP port/);
    expect(() => rewriteNginxConfig(text, { ...opts, root: '/a"b' })).toThrow(/cannot be written/);
  });
});
