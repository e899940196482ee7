import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { INSTALL_ROOT } from '../../lib/paths.js';

// Summarises a V8 .cpuprofile (node --cpu-prof) as the functions with the most
// self time, for the profile notes in BENCHMARKS.md.
// Run: node dist/tools/bench/cpuprofile-top.js FILE.cpuprofile [top=20]

interface ProfNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
interface Profile { nodes: ProfNode[]; samples: number[]; timeDeltas: number[] }

export function topSelf(p: Profile, top = 20): Array<{ fn: string; where: string; selfShare: number }> {
  const byNode = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const n = byNode.get(id)!;
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const key = `${n.callFrame.functionName || '(anonymous)'}\t${url ? `${relative(INSTALL_ROOT, url)}:${n.callFrame.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, t]) => {
    const [fn, where] = k.split('\t') as [string, string];
    return { fn, where, selfShare: Number((t / total).toFixed(3)) };
  });
}

if (process.argv[1]?.endsWith('cpuprofile-top.js')) {
  const [file, n] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node dist/tools/bench/cpuprofile-top.js FILE.cpuprofile [top]\n');
    process.exit(2);
  }
  for (const r of topSelf(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(n ?? 20))) {
    process.stdout.write(`${(r.selfShare * 100).toFixed(1).padStart(5)}%  ${r.fn}  ${r.where}\n`);
  }
}
