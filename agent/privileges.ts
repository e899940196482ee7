import { readFileSync } from 'node:fs';
import koffi from 'koffi';

// Least privilege for a running agent. Loading and attaching the programs
// needs root-like capabilities; reading the ring buffer and walking the maps
// afterwards needs only CAP_BPF (bpf() on an open fd, since the host sets
// kernel.unprivileged_bpf_disabled) and CAP_PERFMON. Node has no capset, so
// libc's capset/prctl/setres[ug]id are called through koffi (already used
// for libbpf), with no compiler involved.
//
// Capabilities are per thread. The order below is what makes the drop cover
// the whole process:
// 1. The thread that keeps working with BPF (the sensor worker) sets
//    PR_SET_KEEPCAPS, so its permitted set survives the uid change.
// 2. setgroups/setresgid/setresuid through glibc: glibc runs the syscall in
//    every thread of the process (the setxid broadcast), and every thread
//    still holds CAP_SETUID at that point, so none fails. The kernel then
//    clears permitted and effective capabilities of every thread without
//    keep-caps: the main thread, V8's and libuv's threads.
// 3. That thread drops the bounding set and sets effective = permitted =
//    {CAP_BPF, CAP_PERFMON}, inheritable = {}, and turns on no_new_privs.
// Without a user (staying uid 0) step 2 is skipped: the worker and the main
// thread each narrow themselves, but threads that run no connaudit code (V8
// and libuv helpers) keep root's set, so --user is the recommended setting.

export const CAP_PERFMON = 38;
export const CAP_BPF = 39;
export const SENSOR_CAPS: readonly number[] = [CAP_PERFMON, CAP_BPF];
/**
 * /proc/PID/exe of a process with more capabilities than the reader (every
 * root daemon, once the agent has dropped its own) needs ptrace read access:
 * the enrichment thread keeps CAP_SYS_PTRACE, if it still has it, so
 * process.executable stays filled. It never traces anything.
 */
export const CAP_SYS_PTRACE = 19;
export const ENRICH_CAPS: readonly number[] = [CAP_SYS_PTRACE];
const CAP_LAST = 40;

const PR_SET_KEEPCAPS = 8;
const PR_CAPBSET_DROP = 24;
const PR_SET_NO_NEW_PRIVS = 38;
const CAP_VERSION_3 = 0x20080522;

export interface PrivilegeDrop {
  /** Switch to this uid/gid (supplementary groups cleared); null stays as started. */
  user: { uid: number; gid: number; name: string } | null;
  /** Capability numbers this thread keeps. */
  keep: readonly number[];
}

type Fn = (...args: unknown[]) => number;
let libc: { capget: Fn; capset: Fn; prctl: Fn; setgroups: Fn; setresuid: Fn; setresgid: Fn; errno: () => number } | null = null;

function bind(): NonNullable<typeof libc> {
  if (libc) return libc;
  const so = koffi.load('libc.so.6');
  koffi.struct('connaudit_cap_header', { version: 'uint32', pid: 'int' });
  koffi.struct('connaudit_cap_data', { effective: 'uint32', permitted: 'uint32', inheritable: 'uint32' });
  libc = {
    capget: so.func('int capget(_Inout_ connaudit_cap_header *hdr, _Out_ connaudit_cap_data *data)') as Fn,
    capset: so.func('int capset(connaudit_cap_header *hdr, connaudit_cap_data *data)') as Fn,
    prctl: so.func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)') as Fn,
    setgroups: so.func('int setgroups(size_t size, void *list)') as Fn,
    setresuid: so.func('int setresuid(uint32_t r, uint32_t e, uint32_t s)') as Fn,
    setresgid: so.func('int setresgid(uint32_t r, uint32_t e, uint32_t s)') as Fn,
    errno: () => koffi.errno(),
  };
  return libc;
}

function check(call: string, rc: number): void {
  if (rc !== 0) {
    const errno = bind().errno();
    throw Object.assign(new Error(`${call} failed (errno ${errno}); the agent must start as root (or with CAP_SETUID, CAP_SETGID and CAP_SETPCAP) to drop privileges`), { call, errno });
  }
}

const toMask = (caps: readonly number[]): bigint => caps.reduce((m, c) => m | (1n << BigInt(c)), 0n);
const split = (m: bigint): [number, number] => [Number(m & 0xffffffffn), Number((m >> 32n) & 0xffffffffn)];

/** This thread's capability sets, as 64-bit masks. */
export function threadCaps(): { effective: bigint; permitted: bigint; inheritable: bigint } {
  const c = bind();
  const data = [{}, {}] as Array<Record<string, number>>;
  const hdr = { version: CAP_VERSION_3, pid: 0 };
  check('capget', c.capget(hdr, data));
  const join = (k: string): bigint => BigInt(data[0]![k]!) | (BigInt(data[1]![k]!) << 32n);
  return { effective: join('effective'), permitted: join('permitted'), inheritable: join('inheritable') };
}

/** Effective capabilities of a process or thread from /proc (CapEff), as a mask. */
export function capEffOf(statusText: string): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(statusText);
  if (!m) throw new Error('no CapEff line in the status text');
  return BigInt(`0x${m[1]}`);
}

/** uid and gid of a user name (or a numeric uid) from /etc/passwd. */
export function lookupUser(name: string, passwd = '/etc/passwd'): { uid: number; gid: number; name: string } {
  const lines = readFileSync(passwd, 'utf8').split('\n');
  for (const l of lines) {
    const [n, , uid, gid] = l.split(':');
    if (n && uid !== undefined && gid !== undefined && (n === name || uid === name)) return { uid: Number(uid), gid: Number(gid), name: n };
  }
  if (/^\d+$/.test(name)) return { uid: Number(name), gid: Number(name), name };
  throw new Error(`user "${name}" is not in ${passwd}; give an existing user (e.g. nobody) or a numeric uid`);
}

/**
 * Keeps only `keep` in this thread (bounding, effective, permitted;
 * inheritable cleared), switching the whole process to `user` first when one
 * is given. Call it from the thread that needs the capabilities afterwards.
 */
export function dropPrivileges(d: PrivilegeDrop): void {
  const c = bind();
  if (d.user) {
    check('prctl(PR_SET_KEEPCAPS)', c.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    check('setgroups', c.setgroups(0, null));
    check('setresgid', c.setresgid(d.user.gid, d.user.gid, d.user.gid));
    check('setresuid', c.setresuid(d.user.uid, d.user.uid, d.user.uid));
    check('prctl(PR_SET_KEEPCAPS, 0)', c.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));
  }
  narrowThread(d.keep);
}

/** This thread keeps only the capabilities of `keep` it still has; a no-op drop is fine. */
export function narrowThread(keep: readonly number[]): void {
  const c = bind();
  const have = threadCaps();
  const want = toMask(keep) & have.permitted;
  // Dropping from the bounding set needs CAP_SETPCAP, which goes next.
  if ((have.effective & (1n << 8n)) !== 0n) {
    for (let cap = 0; cap <= CAP_LAST; cap++) if ((want & (1n << BigInt(cap))) === 0n) c.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  const [lo, hi] = split(want);
  check('capset', c.capset({ version: CAP_VERSION_3, pid: 0 }, [{ effective: lo, permitted: lo, inheritable: 0 }, { effective: hi, permitted: hi, inheritable: 0 }]));
  check('prctl(PR_SET_NO_NEW_PRIVS)', c.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
}
