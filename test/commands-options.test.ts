/** Options the fetching commands share: `--concurrency` takes its default, and its help text, from one constant each. */
import { Command } from 'commander';
import {
  DEFAULT_CHECK_CONCURRENCY,
  DEFAULT_COPY_CONCURRENCY,
  DEFAULT_PULL_CONCURRENCY,
  MAX_CONCURRENCY,
} from '../src/contract/concurrency';
import * as bundle from '../src/commands/bundle';
import * as check from '../src/commands/check';
import { concurrency } from '../src/commands/copy-options';
import * as mirror from '../src/commands/mirror';
import * as pull from '../src/commands/pull';

test.each([
  ['pull', pull.register, DEFAULT_PULL_CONCURRENCY],
  ['bundle', bundle.register, DEFAULT_COPY_CONCURRENCY],
  ['mirror', mirror.register, DEFAULT_COPY_CONCURRENCY],
  ['check', check.register, DEFAULT_CHECK_CONCURRENCY],
])('%s --concurrency defaults to its constant, and its help says so', (name, register, want) => {
  const program = new Command();
  register(program);
  const cmd = program.commands.find((c) => c.name() === name) as Command;
  const opt = cmd.options.find((o) => o.long === '--concurrency');
  expect(opt?.defaultValue).toBe(want);
  expect(cmd.helpInformation()).toMatch(new RegExp(`--concurrency <n>[^\\n]*\\(default: ${want}\\)`));
});

test('--concurrency accepts 1 to MAX_CONCURRENCY', () => {
  expect([concurrency('1'), concurrency(String(MAX_CONCURRENCY))]).toEqual([1, MAX_CONCURRENCY]);
  expect(() => concurrency(String(MAX_CONCURRENCY + 1))).toThrow(`from 1 to ${MAX_CONCURRENCY}`);
  expect(() => concurrency('0')).toThrow();
});
