import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { BpfProgramCost } from '../lib/agent-health.js';

// Per-program cost of the sensor's own BPF programs, read from the kernel's
// fdinfo of the program fds this process holds (/proc/self/fdinfo/<fd>:
// prog_id, run_time_ns, run_cnt; Linux 5.1+). No extra syscall, no libbpf
// call, and only our own programs. The kernel counts run_time_ns/run_cnt
// only while sysctl kernel.bpf_stats_enabled=1 (it costs a few ns per run),
// so without it the counts stay 0 and the report shows "-" for ns per run.
// Programs are named by the tracepoint their link attaches them to (the link
// fd's tp_name), which is what an operator recognises.

function fields(text: string): Map<string, string> {
  return new Map(text.split('\n').map((l) => l.split(/:\s*/, 2) as [string, string]).filter(([k, v]) => k && v !== undefined));
}

/** The BPF programs held open by the process whose /proc dir is `procDir` (default: this process). */
export function readBpfProgramStats(procDir = '/proc/self'): BpfProgramCost[] {
  const progs = new Map<string, { run_cnt: number; run_time_ns: number; tag: string }>();
  const names = new Map<string, string>();
  let fds: string[];
  try {
    fds = readdirSync(`${procDir}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    let target: string;
    let info: Map<string, string>;
    try {
      target = readlinkSync(`${procDir}/fd/${fd}`);
      if (target !== 'anon_inode:bpf-prog' && target !== 'anon_inode:bpf_link') continue;
      info = fields(readFileSync(`${procDir}/fdinfo/${fd}`, 'utf8'));
    } catch {
      continue; // closed between readdir and read
    }
    const id = info.get('prog_id');
    if (!id) continue;
    if (target === 'anon_inode:bpf_link') {
      const tp = info.get('tp_name');
      if (tp) names.set(id, tp);
    } else {
      progs.set(id, { run_cnt: Number(info.get('run_cnt') ?? 0), run_time_ns: Number(info.get('run_time_ns') ?? 0), tag: info.get('prog_tag') ?? id });
    }
  }
  return [...progs.entries()]
    .map(([id, p]) => ({ name: names.get(id) ?? `prog_${p.tag}`, run_cnt: p.run_cnt, run_time_ns: p.run_time_ns }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
