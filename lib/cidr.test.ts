import { describe, expect, it } from 'vitest';
import { CidrSet, cidrContains, cidrMatcher, parseCidr } from './cidr.js';

describe('cidr', () => {
  it.each([
    ['10.0.0.0/8', '10.255.1.2', true], ['10.0.0.0/8', '11.0.0.1', false],
    ['192.168.1.128/25', '192.168.1.200', true], ['192.168.1.128/25', '192.168.1.100', false],
    ['fd00::/8', 'fd12:3456::1', true], ['fd00::/8', 'fe80::1', false],
    ['10.0.0.0/8', '::ffff:10.1.1.1', true], ['0.0.0.0/0', '8.8.8.8', true], ['10.1.2.3', '10.1.2.3', true],
    ['10.0.0.0/8', 'fd00::1', false], ['10.0.0.0/8', 'not-an-ip', false],
  ])('%s contains %s: %s', (c, ip, want) => {
    expect(cidrContains(parseCidr(c), ip)).toBe(want);
    expect(cidrMatcher([c])(ip)).toBe(want);
    expect(new CidrSet([c]).has(ip)).toBe(want);
  });

  it.each([
    ['10.0.0.0/33', 'not a CIDR: "10.0.0.0/33" (prefix must be 0..32)'],
    ['fd00::/129', 'not a CIDR: "fd00::/129" (prefix must be 0..128)'],
    ['10.0.0/8', 'not a CIDR: "10.0.0/8" (bad address)'],
    ['10.0.0.0/x', 'not a CIDR: "10.0.0.0/x" (prefix must be 0..32)'],
    ['10.0.0.0/8/1', 'not a CIDR: "10.0.0.0/8/1"'],
  ])('rejects %s', (c, msg) => {
    expect(() => parseCidr(c)).toThrow(msg);
  });

  it('ignores non-strings in a matcher', () => {
    expect(cidrMatcher(['10.0.0.0/8'])(42)).toBe(false);
  });
});
