import { describe, expect, it } from 'vitest';
import { formatElapsed, step } from './progress.js';

describe('step', () => {
  it('prints the label, then done with elapsed time and a note, once', () => {
    const out: string[] = [];
    let t = 1000;
    const s = step('fetching X', (x) => out.push(x), 10_000, () => t);
    t += 2500;
    s.done('57 jars');
    s.fail('ignored after done');
    expect(out.join('')).toBe('fetching X… done (2.5s): 57 jars\n');
  });

  it('marks failure visibly', () => {
    const out: string[] = [];
    step('waiting', (x) => out.push(x), 10_000, () => 0).fail('not ready after 5s');
    expect(out.join('')).toBe('waiting… FAILED (0.0s): not ready after 5s\n');
  });

  it('formats long waits in whole seconds', () => {
    expect(formatElapsed(61_400)).toBe('61s');
    expect(formatElapsed(950)).toBe('0.9s');
  });
});
