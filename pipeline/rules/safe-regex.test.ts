import { describe, expect, it } from 'vitest';
import { compileRegex, unsafeRegexReason } from './safe-regex.js';

const compiled = (p: string) => {
  const r = compileRegex(p);
  if ('error' in r) throw new Error(r.error);
  return r;
};

describe('rule regexes have RE2 semantics', () => {
  it.each(['^curl$', '[a-z]+\\.example\\.com$', '^(ssh|scp)$', 'a{2,5}b', '(ab)+c', '[(+*)]+', '(a+)+$', '(a|ab)*c', '\\w*\\w*\\w*\\w*\\w*\\w*\\w*\\w*!'])('accepts %s', (p) => {
    expect(unsafeRegexReason(p)).toBeNull();
  });

  it.each([
    ['(\\w)\\1', 'backreferences'],
    ['(?<n>a)\\k<n>', 'backreferences'],
    ['foo(?=bar)', 'lookaround'],
    ['foo(?!bar)', 'lookaround'],
    ['(?<=x)y', 'lookaround'],
    ['(?<!x)y', 'lookaround'],
    ['a'.repeat(1100), 'limit is 1024'],
    ['(unclosed', 'not a valid RE2 regular expression: missing closing )'],
  ])('refuses %s', (p, why) => {
    expect(unsafeRegexReason(p)).toContain(why);
  });

  it('matches like a search (anywhere in the input), as RegExp.test did', () => {
    expect(compiled('url').test('/usr/bin/curl')).toBe(true);
    expect(compiled('^url').test('/usr/bin/curl')).toBe(false);
    expect(compiled('^/usr/bin/(curl|wget)$').test('/usr/bin/wget')).toBe(true);
  });

  it('the pattern that hung a backtracking engine answers on 61 and 10,000 characters', () => {
    // A backtracking engine takes seconds at 30 characters and grows exponentially;
    // RE2 answers in one linear pass, so these return (correctly) at all.
    const re = compiled('\\w*\\w*\\w*\\w*\\w*\\w*\\w*\\w*!');
    expect(re.test('a'.repeat(61))).toBe(false);
    expect(re.test('a'.repeat(10_000))).toBe(false);
    expect(re.test(`${'a'.repeat(10_000)}!`)).toBe(true);
  });
});
