/** Reads input files and runs the pure parsers; turns a missing file into an InputError. */
import * as fs from 'fs';
import { InputError } from '../errors';
import { LockFile, parseLock } from './lock';
import { dedupe, parsePluginList, ParseResult } from './properties';
import { parseSnapshot } from './snapshot';

/** The biggest list or snapshot we read: the Higress snapshot is ~60 KB, 80k plugin lines ~6 MB. */
export const MAX_INPUT_BYTES = 32 * 1024 * 1024;

function kindOf(st: fs.Stats): string | undefined {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return st.isFile() ? undefined : 'not a regular file';
}

/** Reads one input file (list, snapshot, lock) with the checks above; a problem is an InputError. */
export function readInputFile(file: string, what: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'permission denied' : (code ?? 'unreadable');
    throw new InputError({
      code: 'E_INPUT_MISSING',
      message: `cannot read ${what} ${file}: ${why}`,
      context: { file },
      hint: 'check the path',
    });
  }
  // Checked before opening: opening a FIFO would block until a writer comes, a device may never end.
  const kind = kindOf(st);
  if (kind)
    throw new InputError({
      code: 'E_INPUT_NOT_FILE',
      message: `${what} ${file} is ${kind}, not a file`,
      context: { file },
      hint: `pass the path of the ${what} file itself`,
    });
  if (st.size > MAX_INPUT_BYTES) {
    throw new InputError({
      code: 'E_INPUT_TOO_LARGE',
      message: `${what} ${file} is ${st.size} bytes, over the ${MAX_INPUT_BYTES}-byte limit`,
      context: { file },
      hint: 'check the path; split a list this large',
    });
  }
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    throw new InputError({
      code: 'E_INPUT_MISSING',
      message: `cannot read ${what} ${file}`,
      context: { file },
      hint: 'check the path',
    });
  }
}

/** Parses the lists and/or snapshot; merged entries with every problem of every file. */
export function loadInputs(files: { lists?: string[]; snapshot?: string }): ParseResult {
  const parts: ParseResult[] = [];
  for (const list of files.lists ?? []) parts.push(parsePluginList(readInputFile(list, 'plugin list'), list));
  if (files.snapshot) parts.push(parseSnapshot(readInputFile(files.snapshot, 'snapshot'), files.snapshot));
  const problems = parts.flatMap((p) => p.problems);
  return dedupe(
    parts.flatMap((p) => p.entries),
    problems,
  );
}

export function loadLock(file: string): { lock?: LockFile; problems: InputError[] } {
  return parseLock(readInputFile(file, 'lock file'), file);
}
