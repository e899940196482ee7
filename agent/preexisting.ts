import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { OWNER_LAYOUT as O, OWNER_SIZE } from './event-decoder.js';

// What the start-up scan needs from /proc before the kernel walks the
// sockets: which process holds each socket (by socket inode, from
// /proc/PID/fd), and one way into every network namespace that has sockets.
// Plain file reads, so it works the same on every kernel; the socket walk
// itself (bpf/connaudit.bpf.c seed_tcp) gets the kernel addresses /proc hides.

export interface SocketOwner {
  pid: number;
  ppid: number;
  uid: number;
  comm: string;
  cgroupId: bigint;
}

export interface OwnerScan {
  /** socket inode -> owner. Shared sockets (fork) go to the lowest pid: the parent that opened them. */
  owners: Map<bigint, SocketOwner>;
  /** netns inode -> a path that opens it (/proc/PID/ns/net or /run/netns/NAME). */
  namespaces: Map<number, string>;
  processes: number;
  /** Processes that vanished or could not be read mid-scan (their sockets get process_unknown_reason). */
  unreadable: number;
}

const read = (p: string): string | null => {
  try { return readFileSync(p, 'utf8'); } catch { return null; }
};

/** The cgroup v2 mount point, from /proc/self/mountinfo text; cgroup ids are its directories' inode numbers. */
export function cgroup2Root(mountinfo: string): string | null {
  for (const line of mountinfo.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (post?.startsWith('cgroup2 ')) return pre!.split(' ')[4] ?? null;
  }
  return null;
}

/** The v2 path of /proc/PID/cgroup text ("0::/system.slice/x.service"). */
export function cgroup2Path(text: string): string | null {
  const m = /^0::(\/.*)$/m.exec(text);
  return m ? m[1]! : null;
}

export function socketInode(link: string): bigint | null {
  const m = /^socket:\[(\d+)\]$/.exec(link);
  return m ? BigInt(m[1]!) : null;
}

export function scanSocketOwners(root = '/proc', netnsDir = '/run/netns'): OwnerScan {
  const owners = new Map<bigint, SocketOwner>();
  const namespaces = new Map<number, string>();
  const cgRoot = cgroup2Root(read(join(root, 'self/mountinfo')) ?? '');
  const cgIds = new Map<string, bigint>();
  let processes = 0;
  let unreadable = 0;
  const pids = readdirSync(root).filter((d) => /^\d+$/.test(d)).map(Number).sort((a, b) => a - b);
  for (const pid of pids) {
    const dir = join(root, String(pid));
    let fds: string[];
    try { fds = readdirSync(join(dir, 'fd')); } catch { unreadable++; continue; }
    processes++;
    try {
      const ns = statSync(join(dir, 'ns/net')).ino;
      if (!namespaces.has(ns)) namespaces.set(ns, join(dir, 'ns/net'));
    } catch { /* exited */ }
    let owner: SocketOwner | null = null;
    for (const fd of fds) {
      let link: string;
      try { link = readlinkSync(join(dir, 'fd', fd)); } catch { continue; }
      const ino = socketInode(link);
      if (ino === null || owners.has(ino)) continue;
      owner ??= describe(dir, pid, cgRoot, cgIds);
      if (owner) owners.set(ino, owner);
    }
  }
  let named: string[] = [];
  try { named = readdirSync(netnsDir); } catch { /* no named namespaces */ }
  for (const name of named) {
    try {
      const ns = statSync(join(netnsDir, name)).ino;
      if (!namespaces.has(ns)) namespaces.set(ns, join(netnsDir, name));
    } catch { /* removed meanwhile */ }
  }
  return { owners, namespaces, processes, unreadable };
}

function describe(dir: string, pid: number, cgRoot: string | null, cgIds: Map<string, bigint>): SocketOwner | null {
  const status = read(join(dir, 'status'));
  if (!status) return null;
  const ppid = Number(/^PPid:\s*(\d+)$/m.exec(status)?.[1] ?? 0);
  const uid = Number(/^Uid:\s*(\d+)/m.exec(status)?.[1] ?? 0);
  const comm = (read(join(dir, 'comm')) ?? '').replace(/\n$/, '');
  let cgroupId = 0n;
  const cgPath = cgroup2Path(read(join(dir, 'cgroup')) ?? '');
  if (cgRoot && cgPath) {
    let id = cgIds.get(cgPath);
    if (id === undefined) {
      try { id = BigInt(statSync(join(cgRoot, cgPath)).ino); } catch { id = 0n; }
      cgIds.set(cgPath, id);
    }
    cgroupId = id;
  }
  return { pid, ppid, uid, comm, cgroupId };
}

/** struct ca_owner bytes for the seed_owners map (sock_id is filled by the kernel). */
export function encodeOwner(o: SocketOwner): Buffer {
  const b = Buffer.alloc(OWNER_SIZE);
  b.writeBigUInt64LE(o.cgroupId, O.cgroup_id.offset);
  b.writeUInt32LE(o.pid, O.pid.offset);
  b.writeUInt32LE(o.pid, O.tid.offset);
  b.writeUInt32LE(o.ppid, O.ppid.offset);
  b.writeUInt32LE(o.uid, O.uid.offset);
  b.write(o.comm, O.comm.offset, O.comm.size - 1, 'utf8');
  return b;
}
