// Table test: names from the network become safe base names or are refused.
import test from 'ava';
import { safeBaseName, uniqueName } from '../../src/store/names.js';
import { UnsafeNameError } from '../../src/errors.js';

const safe: Array<[string, string]> = [
  ['report.pdf', 'report.pdf'],
  ['naïve résumé.txt', 'naïve résumé.txt'],
  ['../../etc/passwd', 'passwd'],
  ['/etc/shadow', 'shadow'],
  ['a/b/c.txt', 'c.txt'],
  ['..\\..\\windows\\win.ini', 'win.ini'],
  ['C:\\Users\\x\\evil.exe', 'evil.exe'],
  ['C:evil.exe', 'evil.exe'],
  ['tab\there', 'tabhere'],
  ['  spaced  ', 'spaced'],
];
for (const [input, expected] of safe) {
  test(`safeBaseName(${JSON.stringify(input)}) = ${JSON.stringify(expected)}`, (t) => {
    t.is(safeBaseName(input), expected);
  });
}

const refused = ['', '.', '..', '...', '../', 'a/..', 'nul\0byte', 'CON', 'aux.txt', 'com1', 'x'.repeat(256), '\u0001\u0002'];
for (const input of refused) {
  test(`safeBaseName refuses ${JSON.stringify(input.slice(0, 20))}`, (t) => {
    t.throws(() => safeBaseName(input), { instanceOf: UnsafeNameError });
  });
}

test('uniqueName picks the first free variant', (t) => {
  const taken = new Set(['a.txt', 'a (1).txt', 'noext']);
  t.is(uniqueName('a.txt', (n) => taken.has(n)), 'a (2).txt');
  t.is(uniqueName('noext', (n) => taken.has(n)), 'noext (1)');
  t.is(uniqueName('free.bin', (n) => taken.has(n)), 'free.bin');
});
