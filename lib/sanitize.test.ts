import { describe, expect, it } from 'vitest';
import { escapeDisplay } from './sanitize.js';

describe('escapeDisplay', () => {
  it.each([
    ['NUL', 'a\u0000b', 'a\\x00b'],
    ['an ANSI colour escape', '\u001b[31mred\u001b[0m', '\\x1b[31mred\\x1b[0m'],
    ['DEL and a C1 control', 'a\u007fb\u009b', 'a\\x7fb\\x9b'],
    ['a right-to-left override', 'gnp\u202Eexe.png', 'gnp\\u202eexe.png'],
    ['bidi isolates', '\u2066x\u2069', '\\u2066x\\u2069'],
    ['zero-width joiners and the BOM', 'ad\u200dmin\ufeff', 'ad\\u200dmin\\ufeff'],
    ['a line separator', 'a\u2028b', 'a\\u2028b'],
    ['newline and tab', 'a\nb\tc', 'a\\x0ab\\x09c'],
  ])('escapes %s', (_n, input, out) => {
    expect(escapeDisplay(input)).toBe(out);
  });

  it.each(['curl', '/usr/lib/systemd/systemd', 'nginx: worker process', 'пример', '日本語', 'emoji 🚀', 'back\\slash'])('returns %s unchanged (same string)', (s) => {
    expect(escapeDisplay(s)).toBe(s);
  });
});
