import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';

// What an integration test needs from the machine. Under CI=true a missing
// need is a failure (nothing may be skipped there); elsewhere the test skips
// and says why, on stderr, so a skip is never silent.

export type Need = 'root' | 'bpf' | 'netns' | 'kafka' | 'elasticsearch' | 'chromium';

const isCI = process.env.CI === 'true';

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 1000 });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
    s.once('timeout', () => { s.destroy(); resolve(false); });
  });
}

function hostPort(value: string, fallbackPort: number): [string, number] {
  const u = value.includes('://') ? new URL(value) : new URL(`tcp://${value}`);
  return [u.hostname, Number(u.port || fallbackPort)];
}

async function missing(need: Need): Promise<string | null> {
  switch (need) {
    case 'root':
      return process.getuid?.() === 0 ? null : 'needs root';
    case 'bpf':
      if (process.getuid?.() !== 0) return 'eBPF needs root';
      if (!existsSync('/sys/kernel/btf/vmlinux')) return 'kernel has no BTF (/sys/kernel/btf/vmlinux)';
      return existsSync(new URL('../../bpf/connaudit.bpf.o', import.meta.url)) ? null : 'bpf/connaudit.bpf.o is not built (make -C bpf)';
    case 'netns':
      if (process.getuid?.() !== 0) return 'network namespaces need root';
      try { execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' }); return null; } catch { return 'ip netns is not available (apt-get install iproute2)'; }
    case 'kafka': {
      const [h, p] = hostPort((process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')[0]!, 9092);
      return (await portOpen(h, p)) ? null : `no Kafka broker at ${h}:${p} (run: connaudit services up)`;
    }
    case 'elasticsearch': {
      const [h, p] = hostPort(process.env.ES_URL ?? 'http://127.0.0.1:9200', 9200);
      return (await portOpen(h, p)) ? null : `no Elasticsearch at ${h}:${p} (run: connaudit services up)`;
    }
    case 'chromium':
      return existsSync('/usr/bin/chromium') ? null : 'no /usr/bin/chromium (apt-get install chromium)';
  }
}

/**
 * Call at the top of an integration test: `if (await skipUnless(ctx, 'bpf', 'kafka')) return;`
 * Returns true when the test should stop (outside CI only); throws under CI=true.
 */
export async function skipUnless(ctx: { skip: (note?: string) => void }, ...needs: Need[]): Promise<boolean> {
  const reasons = (await Promise.all(needs.map(missing))).filter((r): r is string => r !== null);
  if (reasons.length === 0) return false;
  const msg = `cannot run here: ${reasons.join('; ')}`;
  if (isCI) throw new Error(`${msg} — under CI=true nothing may be skipped`);
  process.stderr.write(`SKIP (${msg})\n`);
  ctx.skip(msg);
  return true;
}
