import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.js';

const expectError = (yaml: string, where: RegExp): void => {
  let err: unknown;
  try { parseConfig(yaml, 'agent.yaml'); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as Error).message).toMatch(where);
};

describe('parseConfig', () => {
  it('fills defaults from an empty file', () => {
    const c = parseConfig('', 'agent.yaml', { hostname: 'h1' });
    expect(c.host).toBe('h1');
    expect(c.interimIntervalS).toBe(60);
    expect(c.filters).toEqual({ ignoreLoopback: true, ignorePorts: [], ignoreCidrs: [], ratePerSec: 0, burst: 0, sampleN: 0 });
    expect(c.topic).toBe('connaudit.connections');
  });

  it('reads every section', () => {
    const c = parseConfig(`host: web-1
environment: prod
node_group: edge
labels: {team: payments}
netns_hosts:
  "4026531840": host-a
filters:
  ignore_loopback: false
  ignore_ports: [22]
  ignore_cidrs: ["169.254.0.0/16"]
rate_limit: {per_cpu_per_sec: 500, sample_one_in: 10}
interim_interval_s: 2
`, 'agent.yaml');
    expect(c).toMatchObject({ host: 'web-1', environment: 'prod', nodeGroup: 'edge', labels: { team: 'payments' }, interimIntervalS: 2 });
    expect(c.netnsHosts.get(4026531840)).toBe('host-a');
    expect(c.filters).toEqual({ ignoreLoopback: false, ignorePorts: [22], ignoreCidrs: ['169.254.0.0/16'], ratePerSec: 500, burst: 500, sampleN: 10 });
  });

  it('UDP settings: defaults, values, and a clear error for a timeout that is not positive', () => {
    expect(parseConfig('', 'agent.yaml').sensor).toMatchObject({ udpIdleTimeoutS: 60, maxUdpFlows: 65_536, cgroupPath: '/sys/fs/cgroup/unified' });
    const c = parseConfig('sensor:\n  udp_idle_timeout_s: 2.5\n  max_udp_flows: 1024\n  cgroup_path: /sys/fs/cgroup\n', 'agent.yaml');
    expect(c.sensor).toMatchObject({ udpIdleTimeoutS: 2.5, maxUdpFlows: 1024, cgroupPath: '/sys/fs/cgroup' });
    expectError('sensor:\n  udp_idle_timeout_s: 0\n', /^agent\.yaml:2:\d+: sensor\.udp_idle_timeout_s: must be > 0/);
  });

  it('stop drain budget: default, a value, 0 allowed (count, do not drain), a negative one refused at its line', () => {
    expect(parseConfig('', 'agent.yaml').sensor.stopDrainS).toBe(10);
    expect(parseConfig('sensor:\n  stop_drain_s: 2.5\n', 'agent.yaml').sensor.stopDrainS).toBe(2.5);
    expect(parseConfig('sensor:\n  stop_drain_s: 0\n', 'agent.yaml').sensor.stopDrainS).toBe(0);
    expectError('sensor:\n  stop_drain_s: -1\n', /^agent\.yaml:2:\d+: sensor\.stop_drain_s: must be >= 0/);
  });

  it('names file, line and key of a wrong type', () => {
    expectError('host: a\nfilters:\n  ignore_ports: [22, "ssh"]\n', /^agent\.yaml:3:\d+: filters\.ignore_ports\.1: must be integer/);
  });

  it('names the line of an unknown key and lists the allowed ones', () => {
    expectError('host: a\nfilters:\n  ignore_loopbak: true\n', /^agent\.yaml:3:\d+: filters\.ignore_loopbak: unknown key \(allowed: ignore_loopback, ignore_ports, ignore_cidrs\)/);
  });

  it('names the line of broken YAML', () => {
    expectError('host: a\nlabels: {team: x\n', /^agent\.yaml:\d:\d+: not valid YAML/);
  });

  it('rejects a CIDR the kernel filter cannot use at load time, at its line', () => {
    expectError('host: a\nfilters:\n  ignore_cidrs:\n    - 10.0.0.0/8\n    - 10.0.0.0/40\n', /^agent\.yaml:5:\d+: filters\.ignore_cidrs\.1: prefix \/40 is longer than the 32 bits/);
    expectError('filters:\n  ignore_cidrs: ["10.0.0/8"]\n', /^agent\.yaml:2:\d+: filters\.ignore_cidrs\.0: .*ADDRESS\/PREFIX/);
  });

  it('rejects a spool bound too small to hold one record, at its line', () => {
    expectError('spool:\n  dir: /tmp/x\n  max_bytes: 0\n', /^agent\.yaml:3:\d+: spool\.max_bytes: 0 cannot hold even one record; use at least \d+/);
    expect(parseConfig('spool:\n  max_bytes: 1048576\n', 'agent.yaml').spool.maxBytes).toBe(1048576);
  });

  it('names a netns_hosts key that is neither an inode nor a path, at its line', () => {
    expectError('host: a\nnetns_hosts:\n  blue: h\n', /^agent\.yaml:3:\d+: netns_hosts\.blue: .*must match pattern/);
  });

  it('rejects a netns path that does not exist, at its line', () => {
    expectError('netns_hosts:\n  /var/run/netns/does-not-exist-xyz: h\n', /^agent\.yaml:2:\d+: netns_hosts\.\/var\/run\/netns\/does-not-exist-xyz: cannot stat/);
  });
});
