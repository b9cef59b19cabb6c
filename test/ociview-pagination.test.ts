/**
 * Pagination of _catalog and tags/list served by the real Nginx with image/nginx.conf, over a view of
 * 5,000 repositories and one repository with 1,234 tags, read by the real clients: `oras repo ls`,
 * `oras repo tags` (both follow the Link header, `--last` starts a walk) and `skopeo list-tags`, and
 * by a plain HTTP walker for every `n` the rules distinguish. The view's text files are written by
 * the view's own renderer (renderTextFiles) from a view model, which takes a second where pulling
 * 5,000 plugins would take minutes; only the lists are asked for, so no manifest or blob is needed.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { OCI_MANIFEST } from '../src/oci/registry/media';
import { OCI_DIR, ViewFile, ViewTag, VIEW_FILE } from '../src/ociview/layout';
import { pageOf } from '../src/ociview/pages';
import { renderTextFiles, renderView } from '../src/ociview/render';
import { request } from './support/http';
import { startNginx, RunningNginx } from './support/nginx';
import { tool } from './support/tools';

const run = promisify(execFile);
const REPOSITORIES = 5000;
const MANY_TAGS = 1234;
const repos = [
  'plugins/many',
  ...Array.from({ length: REPOSITORIES - 1 }, (_, i) => `plugins/p${String(i).padStart(4, '0')}`),
].sort();
const manyTags = Array.from({ length: MANY_TAGS }, (_, i) => `1.0.${String(i).padStart(4, '0')}`);

let dir: string;
let nginx: RunningNginx;
let host: string;

function tag(name: string, version: string, i: number): ViewTag {
  const hex = i.toString(16).padStart(64, '0');
  return {
    name,
    version,
    digest: `sha256:${hex}`,
    form: 'generated',
    manifests: [{ digest: `sha256:${hex}`, mediaType: OCI_MANIFEST }],
    blobs: [],
  };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ociview-pagination-'));
  const tags = repos.flatMap((r, i) => {
    const name = r.slice('plugins/'.length);
    return name === 'many' ? manyTags.map((v, j) => tag(name, v, 100000 + j)) : [tag(name, '1.0.0', i)];
  });
  const view: ViewFile = { schemaVersion: 1, tags };
  const oci = path.join(dir, OCI_DIR);
  fs.mkdirSync(oci, { recursive: true });
  fs.writeFileSync(path.join(oci, VIEW_FILE), renderView(view));
  for (const [rel, text] of renderTextFiles(view)) {
    fs.mkdirSync(path.dirname(path.join(oci, rel)), { recursive: true });
    fs.writeFileSync(path.join(oci, rel), text);
  }
  fs.mkdirSync(path.join(dir, 'plugins'));
  nginx = await startNginx(dir);
  host = `127.0.0.1:${nginx.port}`;
}, 120_000);

afterAll(async () => {
  await nginx?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The request URIs Nginx logged since `from` lines, for one path. */
function logged(from: number, pathPrefix: string): string[] {
  const lines = fs.readFileSync(path.join(nginx.dir, 'access.log'), 'utf8').trim().split('\n').slice(from);
  return lines.map((l) => (JSON.parse(l) as { uri: string }).uri).filter((u) => u.startsWith(pathPrefix));
}
function logLength(): number {
  const p = path.join(nginx.dir, 'access.log');
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').trim().split('\n').filter(Boolean).length : 0;
}

/** The requests a client following the Links makes, by the rules (pages.ts), from `last`. */
function expectedWalk(uri: string, list: string[], n: string | undefined, last: string | undefined): string[] {
  const out: string[] = [];
  for (let at = last; ;) {
    const q = [n === undefined ? '' : `n=${n}`, at === undefined ? '' : `last=${at}`].filter(Boolean).join('&');
    out.push(q ? `${uri}?${q}` : uri);
    const page = pageOf(list, n, at);
    if (page === 'invalid' || !page.next) return out;
    at = page.next;
  }
}

/** Follows the Link headers from `first`, checking each page against the rules. */
async function walk(
  first: string,
  key: 'repositories' | 'tags',
  n: number,
): Promise<{ entries: string[]; pages: number }> {
  const entries: string[] = [];
  let url: string | undefined = `${nginx.url}${first}`;
  let pages = 0;
  while (url) {
    const r = await request(url);
    expect([url, r.status, r.headers['content-type']]).toEqual([url, 200, 'application/json']);
    expect(r.headers['docker-distribution-api-version']).toBe('registry/2.0');
    const page = (JSON.parse(r.body.toString()) as Record<string, string[]>)[key];
    expect(page.length).toBeLessThanOrEqual(n);
    entries.push(...page);
    pages++;
    const link = r.headers.link as string | undefined;
    if (!link) break;
    const m = /^<(\/v2\/[^>]+\?n=(\d+)&last=([^>&]+))>; rel="next"$/.exec(link);
    expect([link, m?.[2], m?.[3]]).toEqual([link, String(n), page[page.length - 1]]);
    url = `${nginx.url}${m![1]}`;
  }
  return { entries, pages };
}

describe('oras and skopeo walk the lists', () => {
  const oras = (...args: string[]) => run(tool('oras'), args, { cwd: dir, maxBuffer: 64 * 1024 * 1024 });

  test('oras repo ls: the whole catalog in one answer; with --last it follows every Link page', async () => {
    let from = logLength();
    const all = (await oras('repo', 'ls', '--plain-http', host)).stdout.trim().split('\n');
    expect(all).toEqual(repos);
    expect(logged(from, '/v2/_catalog')).toEqual(['/v2/_catalog']);
    from = logLength();
    const rest = (await oras('repo', 'ls', '--plain-http', '--last', 'plugins/p0006', host)).stdout.trim().split('\n');
    expect(rest).toEqual(repos.slice(repos.indexOf('plugins/p0006') + 1));
    const requests = logged(from, '/v2/_catalog');
    // oras percent-encodes the first `last` (a `/` in the name), then follows the Links as sent
    expect(requests.map((u) => u.replace('%2F', '/'))).toEqual(
      expectedWalk('/v2/_catalog', repos, undefined, 'plugins/p0006'),
    );
    expect(requests.length).toBeGreaterThan(5);
  }, 60_000);

  test('oras repo tags: every tag, and from --last through every page', async () => {
    const ref = `${host}/plugins/many`;
    expect((await oras('repo', 'tags', '--plain-http', ref)).stdout.trim().split('\n')).toEqual(manyTags);
    const from = logLength();
    const rest = (await oras('repo', 'tags', '--plain-http', '--last', manyTags[2], ref)).stdout.trim().split('\n');
    expect(rest).toEqual(manyTags.slice(3));
    expect(logged(from, '/v2/plugins/many/tags/list')).toEqual(
      expectedWalk('/v2/plugins/many/tags/list', manyTags, undefined, manyTags[2]),
    );
  }, 60_000);

  test('skopeo list-tags: every tag of the large repository and of a one-tag one', async () => {
    const skopeo = (ref: string) =>
      run(tool('skopeo'), ['list-tags', '--tls-verify=false', `docker://${host}/${ref}`], { cwd: dir }).then(
        (r) => JSON.parse(r.stdout) as { Repository: string; Tags: string[] },
      );
    expect((await skopeo('plugins/many')).Tags).toEqual(manyTags);
    expect((await skopeo('plugins/p4998')).Tags).toEqual(['1.0.0']);
  }, 60_000);
});

describe('the rules over HTTP', () => {
  test.each([1000, 500, 137, 50, 7])(
    'the catalog, n=%i: every page at most n, Links to the end',
    async (n) => {
      const { entries, pages } = await walk(`/v2/_catalog?n=${n}`, 'repositories', n);
      expect(entries).toEqual(repos);
      expect(pages).toBe(expectedWalk('/v2/_catalog', repos, String(n), undefined).length);
    },
    120_000,
  );

  test.each([5000, 100, 3])(
    'tags of a large repository, n=%i',
    async (n) => {
      const { entries } = await walk(`/v2/plugins/many/tags/list?n=${n}`, 'tags', n);
      expect(entries).toEqual(manyTags);
    },
    120_000,
  );

  test('a walk from any `last` (percent-encoded too) gets the rest of the list', async () => {
    const { entries } = await walk(`/v2/_catalog?n=100&last=plugins%2Fp1233`, 'repositories', 100);
    expect(entries).toEqual(repos.slice(repos.indexOf('plugins/p1233') + 1));
  }, 60_000);

  test('n=0: an empty list and no Link', async () => {
    for (const p of ['/v2/_catalog?n=0', '/v2/_catalog?n=0&last=plugins/p0001', '/v2/plugins/many/tags/list?n=0']) {
      const r = await request(`${nginx.url}${p}`);
      expect([p, r.status, r.headers.link]).toEqual([p, 200, undefined]);
      const body = JSON.parse(r.body.toString()) as { repositories?: string[]; tags?: string[] };
      expect(body.repositories ?? body.tags).toEqual([]);
    }
  });

  test('a bad n is refused with PAGINATION_NUMBER_INVALID', async () => {
    for (const p of ['/v2/_catalog?n=abc', '/v2/_catalog?n=-1', '/v2/plugins/many/tags/list?n=1.5']) {
      const r = await request(`${nginx.url}${p}`);
      expect([p, r.status, r.headers['content-type']]).toEqual([p, 400, 'application/json']);
      expect(JSON.parse(r.body.toString()).errors[0].code).toBe('PAGINATION_NUMBER_INVALID');
    }
    // an unknown repository is still NAME_UNKNOWN, whatever the arguments
    const r = await request(`${nginx.url}/v2/plugins/nope/tags/list?n=abc`);
    expect(r.status).toBe(404);
  });

  test('`last` at or past the end, or no entry: an empty list and no Link', async () => {
    for (const p of [
      `/v2/_catalog?n=10&last=${repos[repos.length - 1]}`,
      '/v2/_catalog?n=10&last=plugins/zzzz',
      '/v2/_catalog?last=plugins/zzzz',
      `/v2/plugins/many/tags/list?n=10&last=${manyTags[MANY_TAGS - 1]}`,
      '/v2/plugins/many/tags/list?n=10&last=9.9.9',
    ]) {
      const r = await request(`${nginx.url}${p}`);
      expect([p, r.status, r.headers.link]).toEqual([p, 200, undefined]);
      const body = JSON.parse(r.body.toString()) as { repositories?: string[]; tags?: string[] };
      expect([p, body.repositories ?? body.tags]).toEqual([p, []]);
    }
  });

  test('without n and last: the whole list, no Link (HEAD too)', async () => {
    for (const method of ['GET', 'HEAD']) {
      const r = await request(`${nginx.url}/v2/_catalog`, { method });
      expect([method, r.status, r.headers.link]).toEqual([method, 200, undefined]);
      if (method === 'GET')
        expect((JSON.parse(r.body.toString()) as { repositories: string[] }).repositories).toEqual(repos);
    }
    const p = await request(`${nginx.url}/v2/_catalog?n=100`, { method: 'HEAD' });
    expect([p.status, p.headers.link]).toEqual([200, '</v2/_catalog?n=100&last=plugins/p0098>; rel="next"']);
  });
});
