import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { synthDoc } from '../../tools/gen/synth.js';
import { fileLines, InputError, readDocs } from './input.js';

// The backtest reader splits files itself (readline cost more than parsing);
// these pin down what readline gave: every line once, numbered, whatever the
// chunk boundaries, line endings and multi-byte characters.

const dir = mkdtempSync(join(tmpdir(), 'connaudit-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, text: string): string => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

const collect = async (file: string): Promise<string[]> => {
  const out: string[] = [];
  for await (const d of readDocs(file)) out.push(d.event.id);
  return out;
};

describe('backtest input', () => {
  const docs = Array.from({ length: 40 }, (_, i) => synthDoc({ t: i, host: `h-${i}-é✓`, src: '10.0.0.1', dst: '10.0.0.2', dport: 1000 + i }));
  const lines = docs.map((d) => JSON.stringify(d));

  it('gives every line once with its number, for any chunk size, with CRLF, a missing last newline and multi-byte text across chunk edges', () => {
    const text = `${lines.slice(0, 20).join('\r\n')}\r\n\n${lines.slice(20).join('\n')}`;
    const f = write('mixed.jsonl', text);
    const expected = text.split('\n');
    for (const chunk of [1, 2, 3, 7, 64, 1000, 1 << 20]) {
      const got = [...fileLines(f, undefined, chunk)];
      expect(got.map(([n]) => n)).toEqual(expected.map((_, i) => i + 1));
      expect(got.map(([, l]) => l)).toEqual(expected);
    }
  });

  it('reads the documents in order, skipping blank lines, and reports progress up to the file size', async () => {
    const f = write('docs.jsonl', `${lines.join('\r\n')}\r\n   \n`);
    expect(await collect(f)).toEqual(docs.map((d) => d.event.id));
    const seen: Array<[number, number]> = [];
    for (const _ of fileLines(f, (read, total) => seen.push([read, total]))) { /* drain */ }
    expect(seen.at(-1)![0]).toBe(seen.at(-1)![1]);
  });

  it('names the file and line of a bad line', async () => {
    const f = write('bad.jsonl', `${lines[0]}\n\n{"event": {}}\nnull\n`);
    await expect(collect(f)).rejects.toThrow(InputError);
    await expect(collect(f)).rejects.toThrow(`${f}:3: missing field '@timestamp'`);
    const g = write('bad2.jsonl', `${lines[0]}\nnull\n`);
    await expect(collect(g)).rejects.toThrow(`${g}:2: not a JSON object`);
    const h = write('bad3.jsonl', `${lines[0]}\n${lines[1]!.slice(0, 30)}\n`);
    await expect(collect(h)).rejects.toThrow(`${h}:2: not JSON`);
  });
});
