import koffi from 'koffi';
import os from 'node:os';

// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; later ones charge
// the memory cgroup and ignore the rlimit. Raising it needs CAP_SYS_RESOURCE
// above the hard limit, which containers often drop, so EPERM is reported, not
// fatal, on kernels that do not need it.

const RLIMIT_MEMLOCK = 8;
const RLIM_INFINITY = 0xffffffffffffffffn;

export interface MemlockResult {
  needed: boolean;
  raised: boolean;
  detail: string;
}

export function kernelVersion(release = os.release()): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export const kernelAtLeast = (major: number, minor: number, release?: string): boolean => {
  const [a, b] = kernelVersion(release);
  return a > major || (a === major && b >= minor);
};

export function raiseMemlock(): MemlockResult {
  const needed = !kernelAtLeast(5, 11);
  const libc = koffi.load('libc.so.6');
  koffi.struct('connaudit_rlimit', { cur: 'uint64_t', max: 'uint64_t' });
  const setrlimit = libc.func('int setrlimit(int resource, const connaudit_rlimit *rlim)');
  const rc = setrlimit(RLIMIT_MEMLOCK, { cur: RLIM_INFINITY, max: RLIM_INFINITY }) as number;
  if (rc === 0) return { needed, raised: true, detail: 'RLIMIT_MEMLOCK raised to unlimited' };
  const errno = koffi.errno();
  const why = errno === 1 ? 'EPERM: no CAP_SYS_RESOURCE' : `errno ${errno}`;
  return {
    needed, raised: false,
    detail: needed
      ? `cannot raise RLIMIT_MEMLOCK (${why}) and kernel ${os.release()} < 5.11 charges BPF maps to it`
      : `cannot raise RLIMIT_MEMLOCK (${why}); not needed: kernel ${os.release()} charges BPF memory to the memory cgroup`,
  };
}
