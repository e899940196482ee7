import { readFileSync, readlinkSync } from 'node:fs';

// Enrichment from /proc at the agent: what the kernel record cannot carry
// cheaply (executable path, parent name, container id). The owner may have
// exited by the time its connection closes, so every field is best effort and
// lookups are cached for a short TTL (a busy process opens many connections).

export interface ProcInfo {
  executable: string | null;
  parentName: string | null;
  containerId: string | null;
}

// The last path segment of a container's cgroup, per runtime:
//   docker (cgroupfs)  /docker/<id>            docker (systemd)  docker-<id>.scope
//   containerd (CRI)   cri-containerd-<id>.scope   or kubepods.../<id>
//   cri-o              crio-<id>.scope          podman            libpod-<id>.scope
// conmon scopes (crio-conmon-, libpod-conmon-) belong to the monitor, not the container.
const CONTAINER_SEGMENT = /^(?:docker-|cri-containerd-|crio-|libpod-)?([0-9a-f]{64})(?:\.scope)?$/;

/** Container id from the text of /proc/PID/cgroup (v1 or v2), or null for a host process. */
export function containerIdFromCgroup(text: string): string | null {
  for (const line of text.split('\n')) {
    const path = line.split(':').slice(2).join(':');
    const segments = path.split('/').reverse();
    for (const seg of segments) {
      if (seg.includes('conmon')) continue;
      const m = CONTAINER_SEGMENT.exec(seg);
      if (m) return m[1]!;
    }
  }
  return null;
}

/** The PPid: line of /proc/PID/status. */
export function ppidFromStatus(text: string): number | null {
  const m = /^PPid:\s*(\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}

const readOr = (path: string): string | null => {
  try { return readFileSync(path, 'utf8'); } catch { return null; }
};

export class ProcCache {
  private byPid = new Map<number, { at: number; info: ProcInfo }>();

  constructor(private readonly ttlMs = 30_000, private readonly root = '/proc', private readonly maxEntries = 4096) {}

  lookup(pid: number, ppid: number | null): ProcInfo {
    const now = Date.now();
    const hit = this.byPid.get(pid);
    if (hit && now - hit.at < this.ttlMs) return hit.info;
    let executable: string | null = null;
    try { executable = readlinkSync(`${this.root}/${pid}/exe`); } catch { /* exited, or a kernel thread */ }
    const parent = ppid ?? ppidFromStatus(readOr(`${this.root}/${pid}/status`) ?? '');
    const parentName = parent ? readOr(`${this.root}/${parent}/comm`)?.trimEnd() ?? null : null;
    const cg = readOr(`${this.root}/${pid}/cgroup`);
    const info: ProcInfo = { executable, parentName, containerId: cg ? containerIdFromCgroup(cg) : null };
    // Remember only what we could read: an exited pid gets retried next time (pids are reused).
    if (executable !== null) {
      if (this.byPid.size >= this.maxEntries) this.byPid.clear();
      this.byPid.set(pid, { at: now, info });
    }
    return info;
  }
}
