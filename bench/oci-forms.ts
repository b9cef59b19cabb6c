/**
 * Bytes a gateway moves to pull one plugin version from the OCI view, per manifest form: the raw Wasm
 * artifact (`application/vnd.module.wasm.content.layer.v1+wasm`, the layer is plugin.wasm) against the
 * generated image (one tar+gzip layer built from plugin.wasm.gz, src/ociview/image.ts). Sizes, not
 * times: the numbers are exact and the same on every machine.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gzipChunkedSync } from '../src/content/gzip-format';
import { WASM_LAYER } from '../src/oci/wasm/layers';
import { buildImage } from '../src/ociview/image';
import { writeOciView } from '../src/ociview/write';
import { publishVersion } from '../src/tree/publish';
import { wasmVariant } from './wasm-variant';
import type { BenchSection } from './section';

const ROOT = path.resolve(__dirname, '..', '..');
const CREATED = '2025-01-02T03:04:05Z';

/** Real modules shipped in the repository or its dependencies: AssemblyScript and Go builds. */
const MODULES: Array<[string, string]> = [
  ['examples/add-header (AssemblyScript)', path.join(ROOT, 'examples', 'add-header', 'plugin.wasm')],
  ['esbuild.wasm (Go)', require.resolve('esbuild-wasm/esbuild.wasm')],
];

function rawFormBytes(wasmSize: number, wasmDigest: string): number {
  const config = Buffer.from('{}');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.module.wasm.config.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 },
      layers: [
        {
          mediaType: WASM_LAYER,
          digest: wasmDigest,
          size: wasmSize,
          annotations: { 'org.opencontainers.image.title': 'plugin.wasm' },
        },
      ],
    }),
  );
  return manifest.length + config.length + wasmSize;
}

/** Distinct Go-size modules in the view-writing tree, each also published under an alias version. */
const VIEW_MODULES = 10;
const VIEW_RUNS = 3;

/**
 * Time `pull` and `index` add to write the OCI view: a tree of VIEW_MODULES esbuild.wasm variants
 * (12 MB each, the size of large Higress plugins) plus one alias each, all in the generated form (the
 * one that costs: each version's plugin.wasm and .gz are read and hashed, and the layer written;
 * versions whose files are hardlinks of one another, as `pull` writes aliases, are hashed once).
 * Median of VIEW_RUNS rewrites.
 */
async function viewWriteRow(tmp: string): Promise<string> {
  const base = fs.readFileSync(require.resolve('esbuild-wasm/esbuild.wasm'));
  const root = path.join(tmp, 'tree');
  let bytes = 0;
  for (let i = 0; i < VIEW_MODULES; i++) {
    const src = path.join(tmp, `m${i}.wasm`);
    fs.writeFileSync(src, wasmVariant(base, `view-${i}`));
    for (const [version, aliasOf] of [
      ['1.0.0', undefined],
      ['2.0.0', '1.0.0'],
    ] as const) {
      const m = await publishVersion(root, {
        name: `plugin-${i}`,
        version,
        wasmPath: src,
        source: `file:m${i}.wasm`,
        manifestDigest: null,
        created: CREATED,
        aliasOf,
      });
      if (!aliasOf) bytes += m.size + m.gzipSize;
    }
  }
  const times: number[] = [];
  for (let r = 0; r < VIEW_RUNS; r++) {
    const t0 = process.hrtime.bigint();
    await writeOciView(root);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const ms = times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
  return `| ${VIEW_MODULES * 2} tags (${VIEW_MODULES} distinct modules, ${(bytes / 2 ** 20).toFixed(0)} MiB of .wasm + .gz) | ${ms.toFixed(0)} ms | ${(bytes / 2 ** 20 / (ms / 1000)).toFixed(0)} MiB/s |`;
}

export async function run(): Promise<BenchSection> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-oci-forms-'));
  const rows: string[] = [];
  let viewRow: string;
  try {
    for (const [label, file] of MODULES) {
      const wasm = fs.readFileSync(file);
      const wasmPath = path.join(tmp, 'plugin.wasm');
      const gzPath = path.join(tmp, 'plugin.wasm.gz');
      fs.writeFileSync(wasmPath, wasm);
      fs.writeFileSync(gzPath, gzipChunkedSync(wasm, 9));
      const image = await buildImage(wasmPath, gzPath, wasm.length, CREATED);
      const raw = rawFormBytes(wasm.length, `sha256:${'0'.repeat(64)}`);
      const tarGz = image.manifest.length + image.config.length + image.layerSize;
      rows.push(
        `| ${label} | ${wasm.length} | ${fs.statSync(gzPath).size} | ${raw} | ${tarGz} | ${(tarGz / raw).toFixed(3)} | ${image.layerSize - fs.statSync(gzPath).size} |`,
      );
    }
    viewRow = await viewWriteRow(tmp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return {
    title: 'OCI view: bytes per pull, raw Wasm artifact vs tar+gzip image',
    body: [
      'Manifest + config + layer bytes one gateway pod downloads for one plugin version through `oci://`.',
      'The tar+gzip layer is gzip(tar header) ‖ plugin.wasm.gz (level 9) ‖ gzip(tar end): no second compression.',
      '',
      '| module | wasm bytes | plugin.wasm.gz | raw artifact form | tar+gzip form | ratio | layer − .gz |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
      '',
      `Time to write the OCI view of a tree (every \`pull\` and \`index\` ends with it), median of ${VIEW_RUNS}:`,
      '',
      '| tree | write | read and hashed |',
      '| --- | ---: | ---: |',
      viewRow,
    ].join('\n'),
  };
}
