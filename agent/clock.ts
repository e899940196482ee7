import koffi from 'koffi';

// The kernel stamps events with bpf_ktime_get_boot_ns (CLOCK_BOOTTIME: keeps
// counting through suspend, unlike CLOCK_MONOTONIC). Wall-clock time is
// BOOTTIME + (REALTIME - BOOTTIME), with the offset sampled as a tight pair
// and refreshed, because NTP slews REALTIME while BOOTTIME does not.

const CLOCK_REALTIME = 0;
const CLOCK_BOOTTIME = 7;

let clockGettime: ((id: number, ts: { tv_sec: bigint | number; tv_nsec: bigint | number }) => number) | null = null;

function gettime(id: number): bigint {
  if (!clockGettime) {
    const libc = koffi.load('libc.so.6');
    koffi.struct('connaudit_timespec', { tv_sec: 'int64_t', tv_nsec: 'int64_t' });
    clockGettime = libc.func('int clock_gettime(int clk, _Out_ connaudit_timespec *ts)') as unknown as typeof clockGettime;
  }
  const ts = { tv_sec: 0, tv_nsec: 0 };
  if (clockGettime!(id, ts) !== 0) throw new Error(`clock_gettime(${id}) failed: errno ${koffi.errno()}`);
  return BigInt(ts.tv_sec) * 1_000_000_000n + BigInt(ts.tv_nsec);
}

export const bootNs = (): bigint => gettime(CLOCK_BOOTTIME);

/** REALTIME - BOOTTIME in ns, from the pair with the smallest gap of three tries. */
export function sampleOffsetNs(): bigint {
  let best: { gap: bigint; off: bigint } | null = null;
  for (let i = 0; i < 3; i++) {
    const b1 = gettime(CLOCK_BOOTTIME);
    const r = gettime(CLOCK_REALTIME);
    const b2 = gettime(CLOCK_BOOTTIME);
    const gap = b2 - b1;
    const off = r - (b1 + gap / 2n);
    if (!best || gap < best.gap) best = { gap, off };
  }
  return best!.off;
}

export class BootClock {
  private offsetNs = sampleOffsetNs();
  private sampledAt = Date.now();

  constructor(private readonly refreshMs = 10_000) {}

  /** Kernel boot-time ns -> wall-clock microseconds since the epoch. */
  toWallUs(bootNsValue: bigint): number {
    if (Date.now() - this.sampledAt > this.refreshMs) {
      this.offsetNs = sampleOffsetNs();
      this.sampledAt = Date.now();
    }
    return Number((bootNsValue + this.offsetNs) / 1000n);
  }

  nowBootNs(): bigint {
    return bootNs();
  }
}
