import { describe, expect, it } from 'vitest';
import { TagFifo } from './tag-fifo.js';

describe('TagFifo', () => {
  it('returns labels in spool order across unlabelled and labelled runs', () => {
    const f = new TagFifo();
    f.push([undefined, undefined]);
    f.push([3, 5, 8]);
    f.push([undefined]);
    f.push([13]);
    expect(f.shift(3)).toEqual([undefined, undefined, 3]);
    expect(f.shift(2)).toEqual([5, 8]);
    f.unshift([5, 8]);
    expect(f.shift(3)).toEqual([5, 8, undefined]);
    expect(f.shift(3)).toEqual([13, undefined, undefined]);
  });
});
