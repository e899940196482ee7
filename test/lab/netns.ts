import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { fromRoot } from '../../lib/paths.js';

// Network namespaces standing in for hosts, for tests and demos that need real
// TCP between "machines" on one box. A lab is N host namespaces plus one switch
// namespace holding a bridge; every host has one veth into the bridge with
//   IPv4 10.200.0.(i+1)/24   and   IPv6 fd00:200::(i+1)/64
// Labs never collide: each has its own switch, and names carry the pid and a
// random tag. Cleanup: lab.destroy() (call it in afterAll), plus a process
// 'exit' hook, plus sweepStaleLabs() for namespaces left by killed runs.
//
//   const lab = NetnsLab.create(2);            // hosts[0], hosts[1]
//   lab.hosts[1].iptables('-A', 'INPUT', '-p', 'tcp', '--dport', '9', '-j', 'DROP');
//   lab.hosts[0].sysctl('net.ipv4.tcp_syn_retries', 1);
//   const child = lab.hosts[1].spawn(['python3', PEER, 'serve', ...]);
//   lab.destroy();
//
// Needs root and iproute2; iptables rules live inside the namespace, so they
// vanish with it.

export const PREFIX = 'ca-lab';
/** The test/demo TCP peer (test/lab/tcp-peer.py); tsc does not copy it into dist/, so resolve from the source tree. */
export const TCP_PEER = fromRoot('test/lab/tcp-peer.py');

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`);
  }
}

export class NsHost {
  constructor(readonly ns: string, readonly index: number, readonly ip4: string, readonly ip6: string) {}

  /** /var/run/netns/NAME: what an agent config's netns_hosts can name. */
  get path(): string {
    return `/var/run/netns/${this.ns}`;
  }

  /** The namespace's inode, as the sensor reports it in the record's netns field. */
  get inode(): number {
    return statSync(this.path).ino;
  }

  /** Runs a command inside the namespace and returns its stdout; throws with its stderr. */
  exec(argv: string[]): string {
    return run('ip', ['netns', 'exec', this.ns, ...argv]);
  }

  spawn(argv: string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  }

  iptables(...rule: string[]): void {
    this.exec(['iptables', '-w', ...rule]);
  }

  ip6tables(...rule: string[]): void {
    this.exec(['ip6tables', '-w', ...rule]);
  }

  /** Drop incoming SYNs to a port: the peer sees no answer (S0). */
  dropSyn(port: number): void {
    this.iptables('-A', 'INPUT', '-p', 'tcp', '--dport', String(port), '--syn', '-j', 'DROP');
  }

  /** Answer SYNs to a port with a RST, as a closed port does (REJ). */
  rejectWithReset(port: number): void {
    this.iptables('-A', 'INPUT', '-p', 'tcp', '--dport', String(port), '-j', 'REJECT', '--reject-with', 'tcp-reset');
  }

  /** Drop a random share p (0..1) of incoming segments to a port, the handshake included. */
  randomDrop(port: number, p: number): void {
    this.iptables('-A', 'INPUT', '-p', 'tcp', '--dport', String(port), '-m', 'statistic', '--mode', 'random', '--probability', String(p), '-j', 'DROP');
  }

  sysctl(key: string, value: string | number): void {
    this.exec(['sysctl', '-q', '-w', `${key}=${value}`]);
  }
}

const live = new Set<NetnsLab>();
let exitHook = false;

export class NetnsLab {
  private destroyed = false;

  private constructor(readonly id: string, readonly switchNs: string, readonly hosts: NsHost[]) {}

  /** Creates `count` (>= 2) host namespaces on one bridge. Throws if any step fails (after undoing it). */
  static create(count = 2): NetnsLab {
    if (count < 2 || count > 200) throw new Error(`a lab has 2..200 hosts, asked for ${count}`);
    const id = `${PREFIX}-${process.pid}-${randomBytes(2).toString('hex')}`;
    const sw = `${id}-sw`;
    const hosts = Array.from({ length: count }, (_, i) => new NsHost(`${id}-h${i}`, i, `10.200.0.${i + 1}`, `fd00:200::${i + 1}`));
    const lab = new NetnsLab(id, sw, hosts);
    live.add(lab);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => { for (const l of live) l.destroy(); });
    }
    try {
      run('ip', ['netns', 'add', sw]);
      run('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
      run('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
      run('ip', ['-n', sw, 'link', 'set', 'lo', 'up']);
      for (const h of hosts) {
        run('ip', ['netns', 'add', h.ns]);
        // Create the pair inside the switch ns, then move one end: no name clash in the root ns.
        run('ip', ['-n', sw, 'link', 'add', `p${h.index}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
        run('ip', ['-n', sw, 'link', 'set', `p${h.index}`, 'master', 'br0', 'up']);
        run('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
        run('ip', ['-n', h.ns, 'addr', 'add', `${h.ip4}/24`, 'dev', 'eth0']);
        // nodad: usable at once instead of "tentative" for a second or two.
        run('ip', ['-n', h.ns, 'addr', 'add', `${h.ip6}/64`, 'dev', 'eth0', 'nodad']);
        run('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up']);
      }
    } catch (e) {
      lab.destroy();
      throw e;
    }
    return lab;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const ns of [...this.hosts.map((h) => h.ns), this.switchNs]) {
      // Killing the namespace's processes first lets `netns del` free it at once.
      try { execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter(Boolean).forEach((pid) => { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }); } catch { /* ns missing */ }
      try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* already gone */ }
    }
  }
}

/** Deletes lab namespaces whose creating process no longer exists (runs that were killed). */
export function sweepStaleLabs(): string[] {
  const removed: string[] = [];
  let list = '';
  try { list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }); } catch { return removed; }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${PREFIX}-(\\d+)-`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try { process.kill(pid, 0); } catch { alive = false; }
    if (alive) continue;
    try { execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' }); removed.push(name); } catch { /* raced */ }
  }
  return removed;
}
