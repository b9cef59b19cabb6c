/**
 * Distinct but valid Wasm modules from one real module: a custom section (id 0) appended with a tag
 * makes the bytes (and so the sha256) unique while the module still validates. Used by the pull
 * benchmark (43 distinct modules) and by the pipeline fault tests (a wrong file never looks right).
 */
/** Unsigned LEB128, the Wasm binary format's integer encoding (section and name sizes). */
export function leb128(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    bytes.push(b);
  } while (n);
  return Buffer.from(bytes);
}

/** `base` plus a custom section named `hps-variant` holding `tag`. */
export function wasmVariant(base: Buffer, tag: string): Buffer {
  const name = Buffer.from('hps-variant');
  const content = Buffer.concat([leb128(name.length), name, Buffer.from(tag)]);
  return Buffer.concat([base, Buffer.from([0]), leb128(content.length), content]);
}
