/** Reads input files and runs the pure parsers; turns a missing file into an InputError. */
import * as fs from 'fs';
import { InputError } from '../errors';
import { LockFile, parseLock } from './lock';
import { dedupe, parsePluginList, ParseResult } from './properties';
import { parseSnapshot } from './snapshot';

function read(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    throw new InputError({ code: 'E_INPUT_MISSING', message: `cannot read ${what} ${file}`, context: { file }, hint: 'check the path' });
  }
}

/** Parses the lists and/or snapshot; merged entries with every problem of every file. */
export function loadInputs(files: { lists?: string[]; snapshot?: string }): ParseResult {
  const parts: ParseResult[] = [];
  for (const list of files.lists ?? []) parts.push(parsePluginList(read(list, 'plugin list'), list));
  if (files.snapshot) parts.push(parseSnapshot(read(files.snapshot, 'snapshot'), files.snapshot));
  const problems = parts.flatMap((p) => p.problems);
  return dedupe(parts.flatMap((p) => p.entries), problems);
}

export function loadLock(file: string): { lock?: LockFile; problems: InputError[] } {
  return parseLock(read(file, 'lock file'), file);
}
