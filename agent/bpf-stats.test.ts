import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBpfProgramStats } from './bpf-stats.js';

// A /proc/<pid> laid out as the kernel shows an agent with two programs,
// one attached through a raw_tracepoint link, plus an ordinary file fd.
function fakeProc(): string {
  const dir = mkdtempSync(join(tmpdir(), 'connaudit-proc-'));
  mkdirSync(join(dir, 'fd'));
  mkdirSync(join(dir, 'fdinfo'));
  const fd = (n: number, target: string, info: string) => { symlinkSync(target, join(dir, 'fd', String(n))); writeFileSync(join(dir, 'fdinfo', String(n)), info); };
  fd(3, '/var/lib/connaudit-agent/spool/0001.seg', 'pos:\t0\nflags:\t02\n');
  fd(29, 'anon_inode:bpf-prog', 'pos:\t0\nprog_type:\t26\nprog_tag:\tc1817ca0c99331b5\nprog_id:\t536\nrun_time_ns:\t412000\nrun_cnt:\t1000\n');
  fd(30, 'anon_inode:bpf-prog', 'pos:\t0\nprog_type:\t17\nprog_tag:\tb9f6215e60da5ae6\nprog_id:\t542\nrun_time_ns:\t0\nrun_cnt:\t0\n');
  fd(35, 'anon_inode:bpf_link', 'link_type:\traw_tracepoint\nlink_id:\t339\nprog_tag:\tc1817ca0c99331b5\nprog_id:\t536\ntp_name:\tinet_sock_set_state\n');
  return dir;
}

describe('readBpfProgramStats', () => {
  it('reads run count and run time of each program this process holds, named by its tracepoint', () => {
    expect(readBpfProgramStats(fakeProc())).toEqual([
      { name: 'inet_sock_set_state', run_cnt: 1000, run_time_ns: 412000 },
      { name: 'prog_b9f6215e60da5ae6', run_cnt: 0, run_time_ns: 0 },
    ]);
  });

  it('returns nothing (not an error) when /proc cannot be read', () => {
    expect(readBpfProgramStats('/nonexistent/proc')).toEqual([]);
  });
});
