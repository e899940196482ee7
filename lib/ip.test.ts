import { describe, expect, it } from 'vitest';
import { ipToBytes, ipToString, unmapV4 } from './ip.js';

describe('ip', () => {
  it.each([
    ['10.1.2.3'], ['fd00::1'], ['fd00::2:0:0:1'], ['2001:db8::'], ['::'], ['1:2:3:4:5:6:7:8'], ['fe80::200:86ff:fe05:80da'],
  ])('round-trips %s', (text) => {
    expect(ipToString(ipToBytes(text))).toBe(text);
  });

  it('shows v4-mapped IPv6 as IPv4', () => {
    expect(ipToString(ipToBytes('::ffff:10.0.0.7'))).toBe('10.0.0.7');
    const mapped = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 1]);
    expect(unmapV4(mapped)).toEqual(Buffer.from([192, 168, 1, 1]));
  });

  it('rejects garbage with the value in the message', () => {
    expect(() => ipToBytes('10.0.0.300')).toThrow(/not an IP address: "10.0.0.300"/);
  });
});
