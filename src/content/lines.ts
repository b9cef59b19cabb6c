/**
 * A text made of many short lines (an Nginx map of 20,000 versions has over 40,000). Each line built
 * with a template is a small chain of string pieces until it is joined; gathering all of them first
 * and joining once kept every chain alive at the same time (about 10 MB at 20,000 versions in a heap
 * snapshot of `pull`). Lines are joined in batches as they come, so only one batch is pieces at a time.
 */
export class Lines {
  private static readonly BATCH = 1024;
  private batch: string[] = [];
  private joined: string[] = [];

  add(line: string): void {
    this.batch.push(line);
    if (this.batch.length >= Lines.BATCH) {
      this.joined.push(this.batch.join(''));
      this.batch = [];
    }
  }

  text(): string {
    return this.pieces().join('');
  }

  /** The text as its joined batches, for a writer or a compare that takes pieces (no copy of the whole). */
  pieces(): string[] {
    return [...this.joined, this.batch.join('')];
  }

  /** The lines `line` makes of each item, as pieces of a batch each. */
  static piecesOf<T>(items: Iterable<T>, line: (item: T) => string): string[] {
    const out = new Lines();
    for (const item of items) out.add(line(item));
    return out.pieces();
  }
}

/** True when `text` is the pieces one after the other, compared in place (no second copy of a 19 MB view.json). */
export function isConcatOf(text: string, pieces: Iterable<string>): boolean {
  let at = 0;
  for (const c of pieces) {
    if (!text.startsWith(c, at)) return false;
    at += c.length;
  }
  return at === text.length;
}

/**
 * The same text, stored flat. V8 keeps a string made by concatenation (a template, `+`, path.join) as
 * a tree of its pieces until something needs its characters in a row: a path of 40 characters kept as
 * a Map key took 269 bytes instead of 88 (Node 20, 100,000 path.join results). Converting it to a
 * number flattens it in place, so the pieces are freed. For strings kept per version or per file.
 */
export function flat(text: string): string {
  Number(text);
  return text;
}

/**
 * `JSON.stringify(value, null, 2)` as it reads nested at `indent` inside a larger pretty JSON text (JSON
 * strings hold no raw newline): a large document (view.json, index.json) is rendered entry by entry.
 */
export function prettyJsonAt(value: unknown, indent: string): string {
  return JSON.stringify(value, null, 2).replace(/\n/g, `\n${indent}`);
}
