/**
 * Reads one version's section of CHANGELOG.md (Keep a Changelog: `## [x.y.z]`, `### Added`, `- entry`)
 * as Artifact Hub `changes` entries, so the chart's `artifacthub.io/changes` annotation is written
 * from the file maintainers already keep rather than typed twice. Pure: text in, entries out.
 */

/** The change kinds Artifact Hub knows; a `### Heading` outside this list is a mistake in the file. */
export const CHANGE_KINDS = ['added', 'changed', 'deprecated', 'removed', 'fixed', 'security'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface ChartChange {
  kind: ChangeKind;
  description: string;
}

export class ChangelogError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
    this.name = 'ChangelogError';
  }
}

/** Entries of `## [version]`; an empty list when the file has no such section. */
export function changesFor(text: string, version: string, file = 'CHANGELOG.md'): ChartChange[] {
  const out: ChartChange[] = [];
  let inSection = false;
  let kind: ChangeKind | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    const release = /^## \[([^\]]+)\]/.exec(line);
    if (release) {
      inSection = release[1] === version;
      kind = undefined;
      return;
    }
    if (!inSection) return;
    const heading = /^### (.+)$/.exec(line);
    if (heading) {
      const k = heading[1].trim().toLowerCase();
      if (!(CHANGE_KINDS as readonly string[]).includes(k)) {
        throw new ChangelogError(
          file,
          i + 1,
          `"### ${heading[1]}" is not a change kind (use one of ${CHANGE_KINDS.join(', ')})`,
        );
      }
      kind = k as ChangeKind;
      return;
    }
    const entry = /^- (.+)$/.exec(line);
    if (entry) {
      if (!kind)
        throw new ChangelogError(file, i + 1, 'entry before any "### <kind>" heading (add one, e.g. "### Added")');
      out.push({ kind, description: entry[1].trim() });
    }
  });
  return out;
}
