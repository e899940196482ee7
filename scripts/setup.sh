#!/usr/bin/env bash
# Installs whatever is missing on a fresh Debian machine with Node 20 (run as
# root), builds connaudit, and starts the local Kafka and Elasticsearch.
# Idempotent: a second run only checks. Used by both README commands.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have clang || need_pkgs+=(clang llvm)
have bpftool || need_pkgs+=(bpftool)
[ -f /usr/include/bpf/libbpf.h ] || need_pkgs+=(libbpf-dev)
[ -e /usr/lib/x86_64-linux-gnu/libbpf.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libbpf.so.1 ] || need_pkgs+=(libbpf1)
have iptables || need_pkgs+=(iptables)
have ip || need_pkgs+=(iproute2)
have ss || need_pkgs+=(iproute2)
have python3 || need_pkgs+=(python3)
have mvn || need_pkgs+=(maven)
# javac too: services up compiles a small Elasticsearch plugin (services/es-analysis-shim).
have java && have javac || need_pkgs+=(openjdk-17-jdk-headless)
have unzip || need_pkgs+=(unzip)
have chromium || need_pkgs+=(chromium)
have sysctl || need_pkgs+=(procps)
have useradd || need_pkgs+=(passwd)
# connaudit bench compare runs these two observers beside the agent.
have bpftrace || need_pkgs+=(bpftrace)
have tcpdump || need_pkgs+=(tcpdump)
# Deployment checks (deploy/deploy.test.ts): systemd-analyze verify/security and a Python venv for kubernetes-validate.
have systemd-analyze || need_pkgs+=(systemd)
python3 -c 'import ensurepip, venv' 2>/dev/null || need_pkgs+=(python3-venv)

if [ ${#need_pkgs[@]} -gt 0 ]; then
  step "installing Debian packages: ${need_pkgs[*]}"
  if [ "$(id -u)" != 0 ]; then echo "setup: installing packages needs root (run as root or with sudo)" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then echo "setup: connaudit needs Node 20 or newer (found $(node --version))" >&2; exit 1; fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# kubernetes-validate (PyPI) ships the Kubernetes OpenAPI schemas, so manifests are checked offline.
KUBE_VALIDATE_VERSION=1.37.0
kv=.cache/tools/kubernetes-validate
if ! "$kv/bin/kubernetes-validate" --version 2>/dev/null | grep -qx "$KUBE_VALIDATE_VERSION"; then
  step "installing kubernetes-validate $KUBE_VALIDATE_VERSION into $kv (manifest checks)"
  rm -rf "$kv"
  python3 -m venv "$kv"
  "$kv/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBE_VALIDATE_VERSION"
fi

step "building the eBPF object (bpf/)"
make -s -C bpf
make -s -C tools/bench

step "compiling TypeScript (dist/)"
npx tsc -p tsconfig.json

step "starting local Kafka and Elasticsearch (connaudit services up)"
node bin/connaudit.js services up
