import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { containerIdFromCgroup, ppidFromStatus, ProcCache } from './proc.js';

const ID = 'a'.repeat(12) + '0123456789abcdef'.repeat(3) + 'b'.repeat(4);

describe('containerIdFromCgroup', () => {
  it.each([
    ['docker, cgroupfs v1', `12:pids:/docker/${ID}\n11:memory:/docker/${ID}\n`, ID],
    ['docker, systemd v2', `0::/system.slice/docker-${ID}.scope\n`, ID],
    ['containerd CRI', `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice/cri-containerd-${ID}.scope\n`, ID],
    ['kubepods cgroupfs', `0::/kubepods/burstable/pod0f1e/${ID}\n`, ID],
    ['cri-o', `0::/kubepods.slice/crio-${ID}.scope\n`, ID],
    ['podman', `0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope/container\n`, ID],
    ['podman conmon is not the container', `0::/machine.slice/libpod-conmon-${ID}.scope\n`, null],
    ['host process', '0::/user.slice/user-0.slice/session-3.scope\n', null],
    ['short hex is not an id', '0::/docker/abc123\n', null],
  ])('%s', (_name, text, want) => {
    expect(containerIdFromCgroup(text)).toBe(want);
  });
});

describe('ppidFromStatus', () => {
  it('reads the PPid line', () => {
    expect(ppidFromStatus('Name:\tbash\nPid:\t10\nPPid:\t7\nTracerPid:\t0\n')).toBe(7);
    expect(ppidFromStatus('Name:\tbash\n')).toBeNull();
  });
});

describe('ProcCache', () => {
  it('reads exe, parent name and container id from a /proc tree', () => {
    const root = mkdtempSync(join(tmpdir(), 'proc-'));
    mkdirSync(join(root, '42'));
    mkdirSync(join(root, '7'));
    symlinkSync('/usr/bin/python3.11', join(root, '42', 'exe'));
    writeFileSync(join(root, '42', 'cgroup'), `0::/system.slice/docker-${ID}.scope\n`);
    writeFileSync(join(root, '42', 'status'), 'PPid:\t7\n');
    writeFileSync(join(root, '7', 'comm'), 'bash\n');
    const cache = new ProcCache(30_000, root);
    expect(cache.lookup(42, null)).toEqual({ executable: '/usr/bin/python3.11', parentName: 'bash', containerId: ID });
    expect(cache.lookup(99, 7)).toEqual({ executable: null, parentName: 'bash', containerId: null });
  });
});
