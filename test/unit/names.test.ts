// Table test: names from the network become the name they are stored under, or are refused at
// once. A name legal on the storing machine is kept as it is; characters it cannot store are
// replaced (never dropped); a path is reduced to its last component.
import test from 'ava';
import { safeBaseName, uniqueName, type NamePlatform } from '../../src/store/names.js';
import { isLocalFatal, UnsafeNameError } from '../../src/errors.js';

const stored: Array<[string, NamePlatform, string]> = [
  ['report.pdf', 'posix', 'report.pdf'],
  ['naïve résumé.txt', 'posix', 'naïve résumé.txt'],
  ['../../etc/passwd', 'posix', 'passwd'],
  ['/etc/shadow', 'posix', 'shadow'],
  ['a/b/c.txt', 'posix', 'c.txt'],
  // legal on Linux: stored as they are (no longer refused, no longer retried forever)
  ['CON', 'posix', 'CON'],
  ['aux.c', 'posix', 'aux.c'],
  ['com1', 'posix', 'com1'],
  // a backslash is an ordinary character on Linux: `a\b` is not cut to `b`
  ['a\\b', 'posix', 'a\\b'],
  ['..\\..\\windows\\win.ini', 'posix', '..\\..\\windows\\win.ini'],
  ['C:evil.exe', 'posix', 'C:evil.exe'],
  ['  spaced  ', 'posix', '  spaced  '],
  // control characters are replaced, not dropped
  ['tab\there', 'posix', 'tab_here'],
  ['nul\0byte', 'posix', 'nul_byte'],
  ['esc\u001b[31mred', 'posix', 'esc_[31mred'],
  ['\u0001\u0002', 'posix', '__'],
  // the same names where Windows rules apply: a safe variant, nothing dropped silently
  ['CON', 'windows', 'CON_'],
  ['aux.c', 'windows', 'aux_.c'],
  ['a\\b', 'windows', 'b'],
  ['..\\..\\windows\\win.ini', 'windows', 'win.ini'],
  ['C:\\Users\\x\\evil.exe', 'windows', 'evil.exe'],
  ['C:evil.exe', 'windows', 'C_evil.exe'],
  ['what?.txt', 'windows', 'what_.txt'],
  ['trailing. ', 'windows', 'trailing__'],
];
for (const [input, platform, expected] of stored) {
  test(`safeBaseName(${JSON.stringify(input)}, ${platform}) = ${JSON.stringify(expected)}`, (t) => {
    t.is(safeBaseName(input, platform), expected);
  });
}

const refused = ['', '.', '..', '...', '../', 'a/..', 'x'.repeat(256), 'é'.repeat(128)];
for (const input of refused) {
  test(`safeBaseName refuses ${JSON.stringify(input.slice(0, 20))} with UNSAFE_NAME, a local error`, (t) => {
    const err = t.throws(() => safeBaseName(input), { instanceOf: UnsafeNameError });
    t.is(err?.code, 'UNSAFE_NAME');
    t.true(isLocalFatal(err), 'not retried');
  });
}

test('uniqueName picks the first free variant', (t) => {
  const taken = new Set(['a.txt', 'a (1).txt', 'noext']);
  t.is(uniqueName('a.txt', (n) => taken.has(n)), 'a (2).txt');
  t.is(uniqueName('noext', (n) => taken.has(n)), 'noext (1)');
  t.is(uniqueName('free.bin', (n) => taken.has(n)), 'free.bin');
});

test('uniqueName refuses a variant over 255 bytes rather than cutting the name', (t) => {
  const long = `${'x'.repeat(251)}.bin`;
  t.throws(() => uniqueName(long, () => true), { instanceOf: UnsafeNameError });
});
