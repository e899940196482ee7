import { describe, expect, it } from 'vitest';
import { BootClock, bootNs } from './clock.js';

describe('BootClock', () => {
  it('maps the current boot time to the current wall-clock time', () => {
    const clock = new BootClock();
    const wallUs = clock.toWallUs(bootNs());
    expect(Math.abs(wallUs - Date.now() * 1000)).toBeLessThan(50_000);
  });
  it('keeps boot-time differences as wall-clock differences', () => {
    const clock = new BootClock();
    const b = bootNs();
    expect(clock.toWallUs(b + 2_000_000_000n) - clock.toWallUs(b)).toBe(2_000_000);
  });
});
