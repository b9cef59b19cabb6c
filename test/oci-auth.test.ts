/**
 * Authentication against real registries: htpasswd basic auth (docker config.json and env
 * credentials) and distribution's bearer-token auth with our token server (challenge, token cache).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createOciClient } from '../src/oci/client';
import { pushWasmArtifact, Pushed, Registry, sha256, startRegistry } from './support/registry';
import { smallWasm } from './support/wasm';

let basicReg: Registry;
let tokenReg: Registry;
let anonTokenReg: Registry;
let small: Buffer;
let tmp: string;
let basicPushed: Pushed;
let tokenPushed: Pushed;
let anonPushed: Pushed;

beforeAll(async () => {
  small = fs.readFileSync(await smallWasm());
  [basicReg, tokenReg, anonTokenReg] = await Promise.all([
    startRegistry({ auth: 'htpasswd' }),
    startRegistry({ auth: 'token' }),
    startRegistry({ auth: 'token', anonymousPull: true }),
  ]);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-auth-'));
  basicPushed = await pushWasmArtifact(basicReg, 'plugins/basic-auth', '2.0.0', small);
  tokenPushed = await pushWasmArtifact(tokenReg, 'private/jwt-auth', '2.0.0', small);
  anonPushed = await pushWasmArtifact(anonTokenReg, 'plugins/nested/oidc', '2.0.0', small);
});

afterAll(async () => {
  await Promise.all([basicReg?.stop(), tokenReg?.stop(), anonTokenReg?.stop()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function dockerConfig(reg: Registry, password = reg.password, key = reg.host): string {
  const file = path.join(fs.mkdtempSync(path.join(tmp, 'cfg-')), 'config.json');
  const auth = Buffer.from(`${reg.username}:${password}`).toString('base64');
  fs.writeFileSync(
    file,
    JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: 'eDp5' }, [key]: { auth } } }),
  );
  return file;
}

const noConfig = () => path.join(tmp, 'missing', 'config.json');
const dir = () => fs.mkdtempSync(path.join(tmp, 'pull-'));

async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('htpasswd basic auth', () => {
  test('without credentials: 401 becomes an auth error that says where credentials go', async () => {
    const client = createOciClient({ dockerConfigPath: noConfig() });
    const err = await client.fetch(basicPushed.ref, dir()).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'RegistryError', code: 'E_REGISTRY_AUTH', transient: false });
    // The hint names the docker config that was actually read, and says it does not exist.
    expect((err as { toLine(): string }).toLine()).toContain(
      'unauthorized: authentication required and no credentials found',
    );
    expect((err as { toLine(): string }).toLine()).toContain(
      `check the credentials for ${basicReg.host} in ${noConfig()} (not found) or HIGRESS_REGISTRY_USERNAME/PASSWORD`,
    );
    await client.close();
  });

  test('credentials from a docker config.json (key written with a scheme, as docker login does)', async () => {
    const client = createOciClient({
      dockerConfigPath: dockerConfig(basicReg, basicReg.password, `http://${basicReg.host}`),
    });
    const got = await client.fetch(basicPushed.ref, dir());
    expect(got.sha256).toBe(sha256(small).slice(7));
    await client.close();
  });

  test('credentials from HIGRESS_REGISTRY_USERNAME/PASSWORD', async () => {
    await withEnv(
      { HIGRESS_REGISTRY_USERNAME: basicReg.username, HIGRESS_REGISTRY_PASSWORD: basicReg.password },
      async () => {
        const client = createOciClient({ dockerConfigPath: noConfig() });
        expect((await client.resolve(basicPushed.ref)).digest).toBe(basicPushed.manifestDigest);
        await client.close();
      },
    );
  });

  test('wrong password is refused once, not retried', async () => {
    const seen: string[] = [];
    const client = createOciClient({
      dockerConfigPath: dockerConfig(basicReg, 'wrong'),
      onRequest: (k) => seen.push(k),
    });
    await expect(client.resolve(basicPushed.ref)).rejects.toMatchObject({ code: 'E_REGISTRY_AUTH' });
    expect(seen).toEqual(['manifest', 'manifest']);
    await client.close();
  });

  test('a docker config that is not JSON is an input error naming the file', async () => {
    const file = path.join(tmp, 'broken.json');
    fs.writeFileSync(file, '{not json');
    const client = createOciClient({ dockerConfigPath: file });
    await expect(client.resolve(basicPushed.ref)).rejects.toMatchObject({
      name: 'InputError',
      code: 'E_DOCKER_CONFIG',
      context: { file },
    });
    await client.close();
  });
});

describe('bearer token auth (distribution auth.token)', () => {
  test('anonymous pull via the WWW-Authenticate challenge, one token per repository scope', async () => {
    const seen: Array<[string, string]> = [];
    const client = createOciClient({ dockerConfigPath: noConfig(), onRequest: (k, u) => seen.push([k, u]) });
    anonTokenReg.tokenServer!.requests.length = 0;
    const got = await client.fetch(anonPushed.ref, dir());
    expect(got.sha256).toBe(sha256(small).slice(7));
    await client.fetch(anonPushed.ref, dir());
    await client.resolve(anonPushed.ref);
    // One token request for the whole session: later requests reuse the cached token.
    expect(anonTokenReg.tokenServer!.requests).toEqual([
      { scope: 'repository:plugins/nested/oidc:pull', user: 'anonymous' },
    ]);
    expect(seen.filter(([k]) => k === 'token')).toHaveLength(1);
    await client.close();
  });

  test('private repository: basic credentials are exchanged for a token', async () => {
    tokenReg.tokenServer!.requests.length = 0;
    const client = createOciClient({ dockerConfigPath: dockerConfig(tokenReg) });
    const got = await client.fetch(tokenPushed.ref, dir());
    expect(got.manifestDigest).toBe(tokenPushed.manifestDigest);
    expect(tokenReg.tokenServer!.requests).toEqual([
      { scope: 'repository:private/jwt-auth:pull', user: tokenReg.username },
    ]);
    await client.close();
  });

  test('private repository without credentials: the token grants nothing, auth error', async () => {
    const client = createOciClient({ dockerConfigPath: noConfig() });
    await expect(client.fetch(tokenPushed.ref, dir())).rejects.toMatchObject({
      name: 'RegistryError',
      code: 'E_REGISTRY_AUTH',
    });
    await client.close();
  });

  test('token server refusing the credentials is an auth error', async () => {
    const client = createOciClient({ dockerConfigPath: dockerConfig(tokenReg, 'wrong') });
    const err = await client.resolve(tokenPushed.ref).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_REGISTRY_AUTH' });
    expect((err as Error).message).toMatch(/token server answered 401/);
    await client.close();
  });
});
