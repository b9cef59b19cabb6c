/** The registry's error body (src/oci/http/errcode.ts): parsed, bounded, and made safe for one line. */
import { Readable } from 'stream';
import {
  describeDiagnostics,
  MAX_ERROR_BODY_BYTES,
  MAX_ERROR_TEXT,
  parseErrorBody,
  readErrorBody,
  registrySays,
  safeText,
} from '../src/oci/http/errcode';
import { statusError } from '../src/oci/http/status';
import { DEFAULT_MAX_BYTES } from '../src/oci/client';
import { MAX_WASM_BYTES } from '../src/contract/tree-format';

const body = (doc: unknown) => Buffer.from(JSON.stringify(doc));

describe('parseErrorBody', () => {
  test('the distribution shape: code, message and detail of each error', () => {
    const doc = {
      errors: [
        { code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: '9.9.9' } },
        { code: 'DENIED', message: 'requested access to the resource is denied', detail: null },
      ],
    };
    expect(parseErrorBody(body(doc))).toEqual([
      { code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: '9.9.9' } },
      { code: 'DENIED', message: 'requested access to the resource is denied' },
    ]);
  });

  test.each([
    ['HTML from a proxy', Buffer.from('<html><body>502 Bad Gateway</body></html>')],
    ['a body cut off by the size bound', body({ errors: [{ code: 'X', message: 'y'.repeat(100) }] }).subarray(0, 40)],
    ['no errors array', body({ error: 'nope' })],
    ['errors without code or message', body({ errors: [{ foo: 1 }, 'text', null] })],
    ['an empty body', Buffer.alloc(0)],
  ])('nothing usable in %s', (_what, b) => expect(parseErrorBody(b)).toEqual([]));
});

describe('safeText and describeDiagnostics', () => {
  test('control characters and bidi overrides are escaped, so a registry cannot forge a second line or recolour the terminal', () => {
    expect(safeText('bad\nline\r\tend')).toBe('bad\\nline\\r\\tend');
    expect(safeText('\u001b[31mred\u001b[0m\u0007')).toBe('\\u001b[31mred\\u001b[0m\\u0007');
    expect(safeText('abc\u202edcba')).toBe('abc\\u202edcba');
    expect(safeText('naïve 中文 ok')).toBe('naïve 中文 ok');
  });

  test('long text is cut to the limit with an ellipsis', () => {
    const out = safeText('x'.repeat(5000));
    expect([...out]).toHaveLength(MAX_ERROR_TEXT);
    expect(out.endsWith('…')).toBe(true);
    expect(safeText('short', 10)).toBe('short');
  });

  test('one line: CODE: message, detail: ..., errors joined by "; "', () => {
    expect(
      describeDiagnostics([
        { code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: '9.9.9' } },
        { code: 'DENIED' },
      ]),
    ).toBe('MANIFEST_UNKNOWN: manifest unknown, detail: {"Tag":"9.9.9"}; DENIED');
    expect(describeDiagnostics([{ code: 'TOOMANYREQUESTS', message: 'quota\nexceeded', detail: 'retry in 1h' }])).toBe(
      'TOOMANYREQUESTS: quota\\nexceeded, detail: retry in 1h',
    );
    expect(describeDiagnostics([])).toBeUndefined();
  });
});

describe('reading the body', () => {
  test(`at most ${MAX_ERROR_BODY_BYTES} bytes are read, however much the registry sends`, async () => {
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 4096;
        this.push(Buffer.alloc(4096, 0x61));
      },
    });
    const got = await readErrorBody(endless);
    expect(got.length).toBe(MAX_ERROR_BODY_BYTES);
    expect(produced).toBeLessThan(MAX_ERROR_BODY_BYTES * 8);
  });

  test('a body that breaks off still yields what arrived, and a huge JSON body says nothing rather than a partial lie', async () => {
    const broken = new Readable({
      read() {
        this.push(Buffer.from('{"errors":['));
        this.destroy(new Error('reset'));
      },
    });
    expect(await readErrorBody(broken)).toEqual(Buffer.from('{"errors":['));
    const huge = Readable.from([body({ errors: [{ code: 'BIG', message: 'm'.repeat(20_000) }] })]);
    expect(await registrySays(huge)).toBeUndefined();
  });
});

test('statusError puts what the registry said after the status, before the hint', () => {
  const err = statusError(404, 'http://r/v2/a/manifests/1', 'manifest', null, 'MANIFEST_UNKNOWN: manifest unknown');
  expect(err.toLine()).toBe(
    'manifest not found (404) at http://r/v2/a/manifests/1: registry says MANIFEST_UNKNOWN: manifest unknown (check the repository and tag)',
  );
  expect(statusError(404, 'u', 'manifest', null).message).toBe('manifest not found (404) at u');
});

test("the client's default size limit is the tree contract's (oci/ keeps its own copy to stay below tree/)", () => {
  expect(DEFAULT_MAX_BYTES).toBe(MAX_WASM_BYTES);
});

test('a 404 says what is missing: a @sha256: pin that does not exist, a lost blob, or a tag', () => {
  const base = 'http://127.0.0.1:5000/v2/plugins/key-auth';
  const digest = `sha256:${'a'.repeat(64)}`;
  const pinned = statusError(404, `${base}/manifests/${digest}`, 'manifest', null);
  expect(pinned.code).toBe('E_REGISTRY_NOT_FOUND');
  expect(pinned.hint).toMatch(/pinned @sha256: manifest digest does not exist/);
  expect(pinned.hint).not.toMatch(/check the repository and tag/);
  expect(statusError(404, `${base}/blobs/${digest}`, 'blob', null).hint).toMatch(/does not have a blob/);
  expect(statusError(404, `${base}/manifests/2.0.0`, 'manifest', null).hint).toBe('check the repository and tag');
});
