import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { buildConfigBlob } from './bpf-config.js';
import { ALL_PROGRAMS, BpfObject, HOOKS, MappedRing } from './libbpf.js';
import { kernelAtLeast, raiseMemlock } from './memlock.js';

// `connaudit agent --check`: can this host run the sensor? One verdict per
// check; a failed required check makes the command exit non-zero. This is the
// "verify kernel compatibility" step before rolling the agent out.

export interface Verdict {
  name: string;
  ok: boolean;
  required: boolean;
  detail: string;
}

export const TRACEPOINTS = ['inet_sock_set_state', 'tcp_destroy_sock', 'tcp_retransmit_skb', 'tcp_send_reset', 'tcp_receive_reset'] as const;

const CAPS: Array<[string, number, boolean]> = [
  // [name, bit, required]: CAP_SYS_ADMIN alone also allows BPF on any kernel.
  ['CAP_BPF', 39, false], ['CAP_PERFMON', 38, false], ['CAP_NET_ADMIN', 12, false], ['CAP_SYS_ADMIN', 21, false], ['CAP_SYS_RESOURCE', 24, false],
];

export function effectiveCaps(status = readFileSync('/proc/self/status', 'utf8')): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export function runChecks(objectPath: string): Verdict[] {
  const out: Verdict[] = [];
  const add = (name: string, ok: boolean, required: boolean, detail: string): void => { out.push({ name, ok, required, detail }); };

  add('kernel version', kernelAtLeast(5, 13), true, `${os.release()} (need >= 5.13: tp_btf, ring buffer, bpf_for_each_map_elem)`);
  const btfPath = '/sys/kernel/btf/vmlinux';
  const btf = existsSync(btfPath) ? readFileSync(btfPath) : null;
  add('kernel BTF', btf !== null, true, btf ? `${btfPath} (${btf.length} bytes)` : `${btfPath} missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y`);
  for (const tp of TRACEPOINTS) {
    const present = btf !== null && btf.indexOf(`btf_trace_${tp}\0`) >= 0;
    add(`tracepoint ${tp}`, present, true, present ? `btf_trace_${tp} in kernel BTF` : `btf_trace_${tp} not in kernel BTF`);
  }
  const caps = effectiveCaps();
  for (const [name, bit, required] of CAPS) {
    const has = (caps & (1n << BigInt(bit))) !== 0n;
    add(name, has, required, has ? 'effective' : 'missing');
  }
  const bpfCapable = (caps & (1n << 21n)) !== 0n || ((caps & (1n << 39n)) !== 0n && (caps & (1n << 38n)) !== 0n);
  add('BPF privilege', bpfCapable, true, bpfCapable ? 'CAP_SYS_ADMIN, or CAP_BPF + CAP_PERFMON' : 'run as root or grant CAP_BPF and CAP_PERFMON');
  // The kernel loads cgroup sock_addr, sock and skb programs (UDP flows, DNS) only for a network admin.
  const netCapable = (caps & (1n << 21n)) !== 0n || (caps & (1n << 12n)) !== 0n;
  add('cgroup program privilege', netCapable, true, netCapable ? 'CAP_SYS_ADMIN or CAP_NET_ADMIN' : 'grant CAP_NET_ADMIN (the UDP and DNS programs are cgroup programs)');
  const ml = raiseMemlock();
  add('memlock', ml.raised || !ml.needed, ml.needed, ml.detail);

  add('sensor object', existsSync(objectPath), true, existsSync(objectPath) ? objectPath : `${objectPath} missing: run make -C bpf`);
  if (!existsSync(objectPath)) return out;
  let obj: BpfObject | null = null;
  try {
    obj = BpfObject.open(objectPath);
    obj.setRodata(buildConfigBlob({ ignoreLoopback: true, ignorePorts: [], ignoreCidrs: [], ratePerSec: 0, burst: 0, sampleN: 0 }));
    obj.load([...ALL_PROGRAMS]);
    add('tp_btf load', true, true, `verifier accepted ${ALL_PROGRAMS.length} programs`);
    for (const p of HOOKS) {
      try { obj.attach(p); add(`attach ${p}`, true, true, 'attached'); } catch (e) { add(`attach ${p}`, false, true, (e as Error).message); }
    }
    try { obj.testRun('refresh_bytes'); add('interim byte refresh', true, false, 'BPF_PROG_TEST_RUN of refresh_bytes works'); } catch (e) { add('interim byte refresh', false, false, `${(e as Error).message}: interim records will carry no byte counts`); }
    try { obj.runIter('seed_tcp'); add('start-up socket scan', true, false, 'iter/tcp runs: sockets that predate the agent are tracked'); } catch (e) { add('start-up socket scan', false, false, `${(e as Error).message}: connections open before the agent starts get no record and listeners no process`); }
    try { new MappedRing(obj.mapFd('events'), 8 << 20).free(); add('ring buffer', true, true, 'the events ring buffer maps into the agent'); } catch (e) { add('ring buffer', false, true, (e as Error).message); }
  } catch (e) {
    add('tp_btf load', false, true, `${(e as Error).message} (run with CONNAUDIT_LOG_LEVEL=debug to see libbpf's log)`);
  } finally {
    obj?.close();
  }
  return out;
}
