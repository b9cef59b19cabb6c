/**
 * A real OCI registry for tests and benchmarks: Debian's `docker-registry` (distribution v2.8)
 * on 127.0.0.1:<free port> with a temp config and storage, plus helpers that push artifacts through
 * the registry's own HTTP API.
 *
 *   const reg = await startRegistry();                           // anonymous pull and push
 *   const reg = await startRegistry({ auth: 'htpasswd' });       // basic auth, user reg.username/reg.password
 *   const reg = await startRegistry({ auth: 'token' });          // distribution token auth + our token server
 *   afterAll(() => reg.stop());                                   // kills it and removes the temp dir
 *
 *   await pushWasmArtifact(reg, 'plugins/key-auth', '2.0.0', wasmBytes, { specYaml, annotations });
 *   await pushDockerImage(reg, 'plugins/old', '1.0.0', wasmBytes);   // Docker v2 + tar.gz layer with plugin.wasm
 *   await pushOciImage(reg, 'plugins/oci', '1.0.0', wasmBytes);      // OCI image + tar+gzip layer
 *   await pushIndex(reg, 'plugins/multi', '1.0.0', { amd64, arm64 }, 'oci' | 'docker');  // index / manifest list
 *   await corruptBlob(reg, digest, (b) => ...);                       // rewrite stored bytes: digest mismatch, truncation
 *   reg.ref('plugins/key-auth', '2.0.0')                              // OciReference for the client
 *
 * Every push helper returns the manifest digest and the descriptors it wrote. Repository paths may be
 * nested (`mcp-server/all-in-one`). Blobs already in the registry are mounted, not uploaded again.
 * In token mode the token server (`reg.tokenServer`) grants pull+push to reg.username, pull to
 * anonymous clients only when `anonymousPull` is set, and logs every token request.
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import { freePort } from './ports';
import * as os from 'os';
import * as path from 'path';
import * as tar from 'tar';
import { promisify } from 'util';
import type { OciReference } from '../../src/oci/types';
import { tool } from './tools';

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  wasmLayer: 'application/vnd.module.wasm.content.layer.v1+wasm',
  wasmConfig: 'application/vnd.module.wasm.config.v1+json',
  specLayer: 'application/vnd.module.wasm.spec.v1+yaml',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerTarGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string };
}

export interface TokenServer {
  url: string;
  /** Every token request: requested scope and the user (or `anonymous`). */
  requests: Array<{ scope: string; user: string }>;
}

export interface Registry {
  /** `127.0.0.1:<port>`: the `registry` of an OciReference. */
  host: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Root of the registry's filesystem storage. */
  storageDir: string;
  auth: 'none' | 'htpasswd' | 'token';
  /** The one user htpasswd/token modes know (pull + push). */
  username: string;
  password: string;
  tokenServer?: TokenServer;
  ref(repository: string, tag?: string, digest?: string): OciReference;
  /** Authorization header the push helpers send for `repository` (undefined when no auth). */
  pushAuth(repository: string): string | undefined;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  auth?: 'none' | 'htpasswd' | 'token';
  /** Token mode: hand out pull tokens to clients without credentials. */
  anonymousPull?: boolean;
}

export { freePort };

export function sha256(data: Buffer | string): string {
  return `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

interface Signer {
  keyPem: string;
  certDerB64: string;
}

/** Distribution accepts tokens whose `x5c` chain ends in a cert of `rootcertbundle`; a self-signed cert is its own chain. */
async function makeSigner(dir: string): Promise<Signer> {
  const key = path.join(dir, 'token.key');
  const cert = path.join(dir, 'token.crt');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    '/CN=test-token-issuer',
  ]);
  const der = new crypto.X509Certificate(fs.readFileSync(cert)).raw;
  return { keyPem: fs.readFileSync(key, 'utf8'), certDerB64: der.toString('base64') };
}

const ISSUER = 'test-token-issuer';
const SERVICE = 'test-registry';

function signToken(
  signer: Signer,
  user: string,
  access: Array<{ type: string; name: string; actions: string[] }>,
): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: 'JWT', alg: 'RS256', x5c: [signer.certDerB64] };
  const claims = {
    iss: ISSUER,
    sub: user,
    aud: SERVICE,
    exp: now + 600,
    nbf: now - 60,
    iat: now,
    jti: crypto.randomBytes(8).toString('hex'),
    access,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = crypto.sign('RSA-SHA256', Buffer.from(input), signer.keyPem);
  return `${input}.${b64url(sig)}`;
}

/** Parses `repository:a/b:pull,push` scopes into JWT access entries. */
function parseScopes(scopes: string[], allowed: (name: string, action: string) => boolean) {
  const access: Array<{ type: string; name: string; actions: string[] }> = [];
  for (const scope of scopes) {
    const m = scope.match(/^(repository):(.+):([a-z,*]+)$/);
    if (!m) continue;
    const actions = m[3].split(',').filter((a) => allowed(m[2], a));
    access.push({ type: m[1], name: m[2], actions });
  }
  return access;
}

async function startTokenServer(
  signer: Signer,
  username: string,
  password: string,
  anonymousPull: boolean,
): Promise<TokenServer & { close(): Promise<void> }> {
  const requests: TokenServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const scopes = u.searchParams.getAll('scope');
    let user = 'anonymous';
    const authz = req.headers.authorization;
    if (authz?.startsWith('Basic ')) {
      const [name, ...rest] = Buffer.from(authz.slice(6), 'base64').toString('utf8').split(':');
      if (name !== username || rest.join(':') !== password) {
        requests.push({ scope: scopes.join(' '), user: `rejected:${name}` });
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      user = name;
    }
    requests.push({ scope: scopes.join(' '), user });
    const access = parseScopes(scopes, (_name, action) => user !== 'anonymous' || (anonymousPull && action === 'pull'));
    const token = signToken(signer, user, access);
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, access_token: token, expires_in: 600, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/token`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function htpasswdLine(username: string, password: string): Promise<string> {
  // Distribution only accepts bcrypt entries.
  const bcrypt = (await import('bcryptjs')).default;
  return `${username}:${bcrypt.hashSync(password, 5)}\n`;
}

async function waitUntilUp(url: string, proc: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited with ${proc.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(`${url}/v2/`, (res) => {
        res.resume();
        resolve(res.statusCode === 200 || res.statusCode === 401);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${url}: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a registry; always pair with `stop()` in afterAll. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const auth = opts.auth ?? 'none';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-registry-'));
  const storageDir = path.join(dir, 'storage');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const username = 'tester';
  const password = `pw-${crypto.randomBytes(6).toString('hex')}`;
  let authYaml = '';
  let signer: Signer | undefined;
  let tokenServer: (TokenServer & { close(): Promise<void> }) | undefined;
  if (auth === 'htpasswd') {
    fs.writeFileSync(path.join(dir, 'htpasswd'), await htpasswdLine(username, password));
    authYaml = `auth:\n  htpasswd:\n    realm: ${SERVICE}\n    path: ${path.join(dir, 'htpasswd')}\n`;
  } else if (auth === 'token') {
    signer = await makeSigner(dir);
    tokenServer = await startTokenServer(signer, username, password, opts.anonymousPull ?? false);
    authYaml = `auth:\n  token:\n    realm: ${tokenServer.url}\n    service: ${SERVICE}\n    issuer: ${ISSUER}\n    rootcertbundle: ${path.join(dir, 'token.crt')}\n`;
  }
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storageDir}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${host}`,
      `  secret: ${crypto.randomBytes(12).toString('hex')}`,
      authYaml,
    ].join('\n'),
  );
  const proc = spawn(tool('docker-registry'), ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errText = '';
  proc.stderr?.on('data', (d: Buffer) => {
    errText = (errText + d.toString()).slice(-4000);
  });
  const url = `http://${host}`;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    await tokenServer?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilUp(url, proc, () => errText);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    host,
    url,
    storageDir,
    auth,
    username,
    password,
    tokenServer: tokenServer ? { url: tokenServer.url, requests: tokenServer.requests } : undefined,
    ref: (repository, tag, digest) => ({
      registry: host,
      repository,
      ...(tag ? { tag } : {}),
      ...(digest ? { digest } : {}),
    }),
    pushAuth: (repository) => {
      if (auth === 'htpasswd') return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
      if (auth === 'token' && signer)
        return `Bearer ${signToken(signer, username, [{ type: 'repository', name: repository, actions: ['pull', 'push'] }])}`;
      return undefined;
    },
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// Pushing through the HTTP API

async function api(
  reg: Registry,
  repository: string,
  method: string,
  pathAndQuery: string,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<Response> {
  const authorization = reg.pushAuth(repository);
  const url = pathAndQuery.startsWith('http') ? pathAndQuery : `${reg.url}${pathAndQuery}`;
  return fetch(url, {
    method,
    body: body ? new Uint8Array(body) : undefined,
    headers: { ...headers, ...(authorization ? { authorization } : {}) },
  });
}

async function expectStatus(res: Response, ok: number[], what: string): Promise<void> {
  if (!ok.includes(res.status)) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

/** Where blobs live, so pushes of the same bytes to another repository mount instead of upload. */
const knownBlobs = new WeakMap<Registry, Map<string, string>>();

/** Uploads one blob (POST + PUT, or a cross-repository mount when the registry already has it). */
export async function pushBlob(
  reg: Registry,
  repository: string,
  data: Buffer,
  mediaType: string,
  annotations?: Record<string, string>,
): Promise<Descriptor> {
  const digest = sha256(data);
  const desc: Descriptor = { mediaType, digest, size: data.length, ...(annotations ? { annotations } : {}) };
  const known = knownBlobs.get(reg) ?? new Map<string, string>();
  knownBlobs.set(reg, known);
  const from = known.get(digest);
  if (from === repository) return desc;
  if (from) {
    const res = await api(reg, repository, 'POST', `/v2/${repository}/blobs/uploads/?mount=${digest}&from=${from}`);
    if (res.status === 201) {
      await res.arrayBuffer();
      return desc;
    }
    await res.arrayBuffer(); // 202: mount refused, upload normally below
  }
  const start = await api(reg, repository, 'POST', `/v2/${repository}/blobs/uploads/`);
  if (start.status !== 202) await expectStatus(start, [202], `start upload to ${repository}`);
  await start.arrayBuffer();
  const location = new URL(start.headers.get('location') ?? '', reg.url);
  location.searchParams.set('digest', digest);
  const put = await api(reg, repository, 'PUT', location.toString(), data, {
    'content-type': 'application/octet-stream',
  });
  await expectStatus(put, [201], `upload ${digest} to ${repository}`);
  known.set(digest, repository);
  return desc;
}

/** PUTs a manifest (object or exact bytes) under a tag or digest; returns its digest. */
export async function pushManifest(
  reg: Registry,
  repository: string,
  reference: string,
  manifest: object | Buffer,
  mediaType: string,
): Promise<string> {
  const bytes = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
  const res = await api(reg, repository, 'PUT', `/v2/${repository}/manifests/${reference}`, bytes, {
    'content-type': mediaType,
  });
  await expectStatus(res, [201], `put manifest ${repository}:${reference}`);
  return sha256(bytes);
}

export interface Pushed {
  ref: OciReference;
  manifestDigest: string;
  manifest: Record<string, unknown>;
  /** The layer holding the wasm (raw or tar+gzip). */
  wasmLayer: Descriptor;
  config: Descriptor;
  /** Hex sha256 of the raw wasm. */
  wasmSha256: string;
}

export interface ArtifactOptions {
  /** spec.yaml text pushed as its own layer. */
  specYaml?: string;
  /** How the spec layer is recognised: by media type (default) or by the title annotation only. */
  specBy?: 'mediaType' | 'title';
  /** Manifest annotations (e.g. org.opencontainers.image.created). */
  annotations?: Record<string, string>;
  /** Extra non-wasm layers (README, icon) before the wasm layer. */
  extraLayers?: Array<{ data: Buffer; mediaType: string; title?: string }>;
}

/** OCI artifact as Higress and `oras push` make it: a raw wasm layer (+ optional spec.yaml layer). */
export async function pushWasmArtifact(
  reg: Registry,
  repository: string,
  tag: string,
  wasm: Buffer,
  opts: ArtifactOptions = {},
): Promise<Pushed> {
  const config = await pushBlob(reg, repository, Buffer.from('{}'), MEDIA.wasmConfig);
  const layers: Descriptor[] = [];
  for (const extra of opts.extraLayers ?? []) {
    layers.push(
      await pushBlob(
        reg,
        repository,
        extra.data,
        extra.mediaType,
        extra.title ? { 'org.opencontainers.image.title': extra.title } : undefined,
      ),
    );
  }
  const wasmLayer = await pushBlob(reg, repository, wasm, MEDIA.wasmLayer, {
    'org.opencontainers.image.title': 'plugin.wasm',
  });
  layers.push(wasmLayer);
  if (opts.specYaml !== undefined) {
    const type = opts.specBy === 'title' ? 'application/yaml' : MEDIA.specLayer;
    layers.push(
      await pushBlob(reg, repository, Buffer.from(opts.specYaml), type, {
        'org.opencontainers.image.title': 'spec.yaml',
      }),
    );
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config,
    layers,
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const manifestDigest = await pushManifest(reg, repository, tag, manifest, MEDIA.ociManifest);
  return {
    ref: reg.ref(repository, tag),
    manifestDigest,
    manifest,
    wasmLayer,
    config,
    wasmSha256: sha256(wasm).slice(7),
  };
}

/** A gzip'd tar holding `files` (path → bytes), made with the tar package like an image layer. */
export async function tarGz(files: Record<string, Buffer>): Promise<Buffer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hps-layer-'));
  try {
    for (const [name, data] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), data);
    }
    const chunks: Buffer[] = [];
    const stream = tar.c({ gzip: true, cwd: dir, portable: true, noMtime: true }, Object.keys(files));
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface ImageOptions {
  /** `created` of the image config (RFC 3339). */
  created?: string;
  /** Files of the layer; default `{ 'plugin.wasm': wasm }`. */
  files?: Record<string, Buffer>;
  /** Raw layer bytes instead of a tar.gz made from `files` (for broken layers). */
  layerBytes?: Buffer;
  architecture?: string;
}

async function pushImage(
  reg: Registry,
  repository: string,
  tag: string,
  wasm: Buffer,
  kind: 'docker' | 'oci',
  opts: ImageOptions,
): Promise<Pushed> {
  const arch = opts.architecture ?? 'amd64';
  const layerBytes = opts.layerBytes ?? (await tarGz(opts.files ?? { 'plugin.wasm': wasm }));
  const wasmLayer = await pushBlob(
    reg,
    repository,
    layerBytes,
    kind === 'docker' ? MEDIA.dockerTarGzip : MEDIA.ociTarGzip,
  );
  const diffId = sha256(await gunzipOrSelf(layerBytes));
  const configDoc = {
    architecture: arch,
    os: 'linux',
    ...(opts.created ? { created: opts.created } : {}),
    rootfs: { type: 'layers', diff_ids: [diffId] },
    config: {},
  };
  const config = await pushBlob(
    reg,
    repository,
    Buffer.from(JSON.stringify(configDoc)),
    kind === 'docker' ? MEDIA.dockerConfig : MEDIA.ociConfig,
  );
  const mediaType = kind === 'docker' ? MEDIA.dockerManifest : MEDIA.ociManifest;
  const manifest = { schemaVersion: 2, mediaType, config, layers: [wasmLayer] };
  const manifestDigest = await pushManifest(reg, repository, tag, manifest, mediaType);
  return {
    ref: reg.ref(repository, tag),
    manifestDigest,
    manifest,
    wasmLayer,
    config,
    wasmSha256: sha256(wasm).slice(7),
  };
}

async function gunzipOrSelf(data: Buffer): Promise<Buffer> {
  const zlib = await import('zlib');
  try {
    return zlib.gunzipSync(data);
  } catch {
    return data;
  }
}

/** Docker v2 image whose tar+gzip layer holds plugin.wasm (the `docker build` + `docker push` way). */
export function pushDockerImage(
  reg: Registry,
  repository: string,
  tag: string,
  wasm: Buffer,
  opts: ImageOptions = {},
): Promise<Pushed> {
  return pushImage(reg, repository, tag, wasm, 'docker', opts);
}

/** OCI image whose tar+gzip layer holds plugin.wasm (buildah/podman). */
export function pushOciImage(
  reg: Registry,
  repository: string,
  tag: string,
  wasm: Buffer,
  opts: ImageOptions = {},
): Promise<Pushed> {
  return pushImage(reg, repository, tag, wasm, 'oci', opts);
}

export interface PushedIndex {
  ref: OciReference;
  indexDigest: string;
  amd64?: Pushed;
  arm64: Pushed;
}

/**
 * A multi-arch index (`oci`) or Docker manifest list (`docker`) with an arm64 entry first and, unless
 * `amd64` is null, an amd64 entry; each entry is an image of that kind holding the given wasm.
 */
export async function pushIndex(
  reg: Registry,
  repository: string,
  tag: string,
  wasm: { amd64: Buffer | null; arm64: Buffer },
  kind: 'oci' | 'docker',
): Promise<PushedIndex> {
  const push = kind === 'docker' ? pushDockerImage : pushOciImage;
  const arm64 = await push(reg, repository, `${tag}-arm64`, wasm.arm64, { architecture: 'arm64' });
  const amd64 = wasm.amd64
    ? await push(reg, repository, `${tag}-amd64`, wasm.amd64, { architecture: 'amd64' })
    : undefined;
  const entry = (p: Pushed, architecture: string): Descriptor => {
    const bytes = Buffer.from(JSON.stringify(p.manifest));
    return {
      mediaType: p.manifest.mediaType as string,
      digest: p.manifestDigest,
      size: bytes.length,
      platform: { os: 'linux', architecture },
    };
  };
  const mediaType = kind === 'docker' ? MEDIA.dockerList : MEDIA.ociIndex;
  const index = {
    schemaVersion: 2,
    mediaType,
    manifests: [entry(arm64, 'arm64'), ...(amd64 ? [entry(amd64, 'amd64')] : [])],
  };
  const indexDigest = await pushManifest(reg, repository, tag, index, mediaType);
  return { ref: reg.ref(repository, tag), indexDigest, amd64, arm64 };
}

// ---------------------------------------------------------------------------------------------
// Damaging stored content (the registry serves what is on disk without re-checking it)

export function blobPath(reg: Registry, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return path.join(reg.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

/**
 * Rewrites a stored blob (layers, configs and manifests are all blobs): the registry keeps serving
 * it under the old digest. Same length → digest mismatch; shorter → truncated body.
 */
export function corruptBlob(reg: Registry, digest: string, mutate: (data: Buffer) => Buffer = flipMiddleByte): void {
  const file = blobPath(reg, digest);
  fs.writeFileSync(file, mutate(fs.readFileSync(file)));
}

export function flipMiddleByte(data: Buffer): Buffer {
  const copy = Buffer.from(data);
  copy[copy.length >> 1] ^= 0xff;
  return copy;
}
