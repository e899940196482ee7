import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OWNER_LAYOUT as O, OWNER_SIZE } from './event-decoder.js';
import { cgroup2Path, cgroup2Root, encodeOwner, scanSocketOwners, socketInode } from './preexisting.js';

// The /proc half of the start-up scan, against a /proc-shaped directory built
// by the test: which process owns which socket inode, and the namespaces to visit.

let dir = '';
afterEach(() => { if (dir) rmSync(dir, { recursive: true, force: true }); dir = ''; });

function proc(root: string, pid: number, o: { comm: string; ppid: number; uid: number; cgroup: string; sockets: number[]; other?: string[]; ns: string }): void {
  const d = join(root, String(pid));
  mkdirSync(join(d, 'fd'), { recursive: true });
  mkdirSync(join(d, 'ns'), { recursive: true });
  writeFileSync(join(d, 'status'), `Name:\t${o.comm}\nPPid:\t${o.ppid}\nUid:\t${o.uid}\t${o.uid}\t${o.uid}\t${o.uid}\n`);
  writeFileSync(join(d, 'comm'), `${o.comm}\n`);
  writeFileSync(join(d, 'cgroup'), `0::${o.cgroup}\n`);
  o.sockets.forEach((ino, i) => symlinkSync(`socket:[${ino}]`, join(d, 'fd', String(3 + i))));
  (o.other ?? []).forEach((t, i) => symlinkSync(t, join(d, 'fd', String(100 + i))));
  symlinkSync(o.ns, join(d, 'ns/net'));
}

describe('parsing', () => {
  it('finds the cgroup2 mount and the v2 path of a process', () => {
    const mountinfo = '25 1 0:22 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n31 25 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n';
    expect(cgroup2Root(mountinfo)).toBe('/sys/fs/cgroup/unified');
    expect(cgroup2Root('25 1 0:22 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n')).toBeNull();
    expect(cgroup2Path('12:cpu:/x\n0::/system.slice/sshd.service\n')).toBe('/system.slice/sshd.service');
    expect(cgroup2Path('12:cpu:/x\n')).toBeNull();
  });

  it('reads socket inodes from fd links and nothing else', () => {
    expect(socketInode('socket:[12345]')).toBe(12345n);
    expect(socketInode('pipe:[12345]')).toBeNull();
    expect(socketInode('/dev/null')).toBeNull();
  });
});

describe('scanSocketOwners', () => {
  it('maps each socket inode to its process, the lowest pid for shared sockets, and lists each namespace once', () => {
    dir = mkdtempSync(join(tmpdir(), 'ca-proc-'));
    const root = join(dir, 'proc');
    const nsA = join(dir, 'nsA');
    const nsB = join(dir, 'nsB');
    writeFileSync(nsA, '');
    writeFileSync(nsB, '');
    mkdirSync(join(root, 'self'), { recursive: true });
    writeFileSync(join(root, 'self/mountinfo'), '');
    // A pre-forked server: the parent and a worker share the listening socket 500.
    proc(root, 200, { comm: 'nginx', ppid: 1, uid: 0, cgroup: '/web', sockets: [500], other: ['/dev/null', 'pipe:[9]'], ns: nsA });
    proc(root, 201, { comm: 'nginx', ppid: 200, uid: 33, cgroup: '/web', sockets: [500, 501], ns: nsA });
    proc(root, 300, { comm: 'curl', ppid: 1, uid: 1000, cgroup: '/user', sockets: [600], ns: nsB });
    const scan = scanSocketOwners(root, join(dir, 'no-netns-dir'));
    expect(scan.processes).toBe(3);
    expect(scan.owners.get(500n)).toMatchObject({ pid: 200, ppid: 1, uid: 0, comm: 'nginx' });
    expect(scan.owners.get(501n)).toMatchObject({ pid: 201, ppid: 200, uid: 33 });
    expect(scan.owners.get(600n)).toMatchObject({ pid: 300, comm: 'curl', uid: 1000 });
    expect(scan.owners.size).toBe(3);
    expect(scan.namespaces.size).toBe(2);
  });
});

describe('encodeOwner', () => {
  it('writes struct ca_owner at the header offsets, comm NUL-terminated', () => {
    const b = encodeOwner({ pid: 42, ppid: 1, uid: 1000, comm: 'a-very-long-process-name', cgroupId: 77n });
    expect(b.length).toBe(OWNER_SIZE);
    expect(b.readBigUInt64LE(O.sock_id.offset)).toBe(0n);
    expect(b.readBigUInt64LE(O.cgroup_id.offset)).toBe(77n);
    expect(b.readUInt32LE(O.pid.offset)).toBe(42);
    expect(b.readUInt32LE(O.tid.offset)).toBe(42);
    expect(b.readUInt32LE(O.ppid.offset)).toBe(1);
    expect(b.readUInt32LE(O.uid.offset)).toBe(1000);
    expect(b.subarray(O.comm.offset, O.comm.offset + O.comm.size).toString('latin1')).toBe('a-very-long-pro\0');
  });
});
