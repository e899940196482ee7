import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { TOPIC_CONNECTIONS } from '../lib/names.js';
import { TOPIC_LAYOUT } from '../lib/topics.js';
import { fromRoot } from '../lib/paths.js';

// The deployment units and manifests are checked by the tools an operator
// would trust: systemd-analyze (verify, and the offline security exposure
// score) and kubernetes-validate (the Kubernetes OpenAPI schemas, strict:
// an unknown or misspelt field fails). scripts/setup.sh installs both.

const SYSTEMD = fromRoot('deploy/systemd');
const K8S = fromRoot('deploy/kubernetes');
const KUBE_VALIDATE = fromRoot('.cache/tools/kubernetes-validate/bin/kubernetes-validate');
/** The oldest Kubernetes still in wide support and the newest the validator knows. */
const K8S_VERSIONS = ['1.31.0', '1.37.0'];

const units = readdirSync(SYSTEMD).filter((f) => f.endsWith('.service'));
const manifests = readdirSync(K8S).filter((f) => f.endsWith('.yaml'));

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}; run scripts/setup.sh (it installs systemd-analyze and kubernetes-validate)`);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A unit's settings as key -> values (repeated keys accumulate). */
function unitSettings(file: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of readFileSync(join(SYSTEMD, file), 'utf8').split('\n')) {
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (kv) m.set(kv[1]!, [...(m.get(kv[1]!) ?? []), kv[2]!]);
  }
  return m;
}

describe('systemd units', () => {
  it('there are units for the agent and the pipeline', () => {
    expect(units.sort()).toEqual(['connaudit-agent.service', 'connaudit-pipeline.service']);
  });

  it.each(units)('%s passes systemd-analyze verify without a single warning', (unit) => {
    const r = run('systemd-analyze', ['verify', join(SYSTEMD, unit)]);
    expect(r.status, r.out).toBe(0);
    // verify exits 0 on "Unknown key" and invalid values (it ignores them), so any output is a failure.
    expect(r.out.trim()).toBe('');
  });

  it('the verify check itself catches a misspelt key and a bad value', () => {
    const dir = mkdtempSync(join(tmpdir(), 'connaudit-unit-'));
    const bad = join(dir, 'connaudit-bad.service');
    writeFileSync(bad, readFileSync(join(SYSTEMD, 'connaudit-agent.service'), 'utf8').replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes').replace('CPUQuota=25%', 'CPUQuota=lots'));
    const r = run('systemd-analyze', ['verify', bad]);
    expect(r.out).toMatch(/Unknown key 'NoNewPrivilege'/);
    expect(r.out).toMatch(/Invalid CPU quota 'lots'/);
  });

  it.each(units)('%s has a low exposure score in systemd-analyze security (offline)', (unit) => {
    // --threshold makes the exit code non-zero above 3.0 (systemd counts in tenths).
    const r = run('systemd-analyze', ['security', '--offline=true', '--threshold=30', '--no-pager', join(SYSTEMD, unit)]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/Overall exposure level for .*: [0-2]\.\d OK/);
  });

  it('the agent gets only CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_NET_ADMIN; the pipeline none; both NoNewPrivileges and ProtectSystem=strict', () => {
    const agent = unitSettings('connaudit-agent.service');
    const pipeline = unitSettings('connaudit-pipeline.service');
    expect(agent.get('CapabilityBoundingSet')).toEqual(['CAP_BPF CAP_PERFMON CAP_SYS_PTRACE CAP_NET_ADMIN']);
    expect(agent.get('AmbientCapabilities')).toEqual(['CAP_BPF CAP_PERFMON CAP_SYS_PTRACE CAP_NET_ADMIN']);
    expect(pipeline.get('CapabilityBoundingSet')).toEqual(['']);
    for (const u of [agent, pipeline]) {
      expect(u.get('NoNewPrivileges')).toEqual(['yes']);
      expect(u.get('ProtectSystem')).toEqual(['strict']);
      expect(u.get('DynamicUser')).toEqual(['yes']);
    }
    // /proc must show every process to the agent: that is where process enrichment reads.
    expect(agent.get('ProtectProc')).toEqual(['default']);
  });
});

interface K8sDoc {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
}

const docs = manifests.flatMap((f) => parseAllDocuments(readFileSync(join(K8S, f), 'utf8')).map((d) => ({ file: f, doc: d.toJSON() as K8sDoc })));
const find = (kind: string, name: string): K8sDoc => {
  const d = docs.find((x) => x.doc.kind === kind && x.doc.metadata.name === name);
  if (!d) throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
  return d.doc;
};

describe('Kubernetes manifests', () => {
  it('kubernetes-validate is installed (scripts/setup.sh)', () => {
    expect(existsSync(KUBE_VALIDATE), `${KUBE_VALIDATE} missing: run scripts/setup.sh`).toBe(true);
  });

  it.each(K8S_VERSIONS)('every manifest validates strictly against the Kubernetes %s schemas', (version) => {
    const r = run(KUBE_VALIDATE, ['--strict', '--quiet', '-k', version, ...manifests.map((f) => join(K8S, f))]);
    expect(r.status, r.out).toBe(0);
  });

  it('strict validation catches a misspelt field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'connaudit-k8s-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, readFileSync(join(K8S, 'agent-daemonset.yaml'), 'utf8').replace('hostPID: true', 'hostPid: true'));
    const r = run(KUBE_VALIDATE, ['--strict', '--quiet', '-k', K8S_VERSIONS[0]!, bad]);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/'hostPid' was unexpected/);
  });

  it('the agent DaemonSet: host PID and network namespaces, BTF and bpffs mounts, only the needed capabilities, no privilege', () => {
    const ds = find('DaemonSet', 'connaudit-agent') as unknown as { spec: { template: { spec: {
      hostPID: boolean; hostNetwork: boolean; nodeSelector: Record<string, string>;
      containers: Array<{ securityContext: { privileged: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[]; add: string[] } }; volumeMounts: Array<{ name: string; mountPath: string }> }>;
      volumes: Array<{ name: string; hostPath?: { path: string } }>;
    } } } };
    const pod = ds.spec.template.spec;
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.nodeSelector).toEqual({ 'connaudit.io/agent': 'enabled' });
    const c = pod.containers[0]!;
    expect(c.securityContext.privileged).toBe(false);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext.capabilities.drop).toEqual(['ALL']);
    expect(c.securityContext.capabilities.add.sort()).toEqual(['BPF', 'NET_ADMIN', 'PERFMON', 'SYS_PTRACE', 'SYS_RESOURCE']);
    const hostPaths = new Map(pod.volumes.filter((v) => v.hostPath).map((v) => [v.name, v.hostPath!.path]));
    const mounted = new Map(c.volumeMounts.map((m) => [m.mountPath, hostPaths.get(m.name)]));
    expect(mounted.get('/sys/kernel/btf')).toBe('/sys/kernel/btf');
    expect(mounted.get('/sys/fs/bpf')).toBe('/sys/fs/bpf');
    // The UDP/DNS programs attach at the node's cgroup v2 root, not the pod's subtree.
    const cm = find('ConfigMap', 'connaudit-agent') as unknown as { data: Record<string, string> };
    const cgroupPath = (parseYaml(cm.data['agent.yaml']!) as { sensor?: { cgroup_path?: string } }).sensor?.cgroup_path;
    expect(cgroupPath).toBeDefined();
    expect(mounted.get(cgroupPath!)).toBe('/sys/fs/cgroup');
  });

  it('the pipeline Deployment has no more replicas than the connections topic has partitions, and runs unprivileged', () => {
    const dep = find('Deployment', 'connaudit-pipeline') as unknown as { spec: { replicas: number; template: { spec: { securityContext: { runAsNonRoot: boolean }; containers: Array<{ securityContext: { capabilities: { drop: string[] } } }> } } } };
    const partitions = TOPIC_LAYOUT.find((t) => t.topic === TOPIC_CONNECTIONS)!.numPartitions;
    expect(dep.spec.replicas).toBeGreaterThanOrEqual(1);
    expect(dep.spec.replicas).toBeLessThanOrEqual(partitions);
    expect(dep.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(dep.spec.template.spec.containers[0]!.securityContext.capabilities.drop).toEqual(['ALL']);
  });
});

describe('container image definition', () => {
  const file = readFileSync(fromRoot('deploy/container/Containerfile'), 'utf8');
  it('builds the BPF object and the TypeScript, and ships what the runtime reads (schemas, rules, the BPF object)', () => {
    expect(file).toMatch(/make -C bpf/);
    expect(file).toMatch(/tsc -p tsconfig\.json/);
    for (const p of ['dist', 'bin', 'schemas', 'rules', 'bpf/connaudit.bpf.o', 'node_modules']) expect(file, p).toMatch(new RegExp(`COPY --from=build /src/${p.replace('.', '\\.')}`));
    expect(file).toMatch(/ENTRYPOINT .*connaudit\.js/);
  });
});
