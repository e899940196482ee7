import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { blockingAncestor } from './es-user.js';

describe('blockingAncestor', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  // An account that owns nothing here and is in no group that does.
  const stranger = { uid: 54321, gid: 54321, name: 'stranger' };

  it('finds the first directory the account cannot enter', () => {
    dir = mkdtempSync(join(tmpdir(), 'anc-'));
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'private', 'repo', '.run'), { recursive: true });
    chmodSync(join(dir, 'private'), 0o700);
    expect(blockingAncestor(join(dir, 'private', 'repo', '.run'), stranger)).toBe(join(dir, 'private'));
  });

  it('passes a world-traversable path and one the account owns', () => {
    dir = mkdtempSync(join(tmpdir(), 'anc-'));
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    chmodSync(join(dir, 'a'), 0o711);
    expect(blockingAncestor(join(dir, 'a', 'b'), stranger)).toBeUndefined();
    chmodSync(join(dir, 'a'), 0o700);
    const me = { uid: process.getuid!(), gid: process.getgid!(), name: 'me' };
    expect(blockingAncestor(join(dir, 'a', 'b'), me)).toBeUndefined();
  });
});
