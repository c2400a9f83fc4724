#!/usr/bin/env bash
# A real single-node Kubernetes cluster for `make test-e2e` (needs root):
#
#   hack/e2e-node.sh up   DIR REGISTRY   # REGISTRY (host:port, plain HTTP) already serves e2e/pause:1
#   hack/e2e-node.sh down DIR            # idempotent; also run by `up` first
#
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler (from $K8S_BIN),
# containerd + runc + CNI bridge (Debian packages) and a kubelet, all with their
# state under DIR. `up` writes DIR/admin.kubeconfig and DIR/env (NODE_IP,
# APISERVER_PORT). `down` stops what `up` started and restores the host: the
# sysctls the kubelet and CNI change (recorded by `up` before anything runs),
# the KUBE-*/CNI-*/SEALIFT-E2E iptables chains, mounts under DIR, kubepods
# cgroups, the cni0 bridge and the cni-* network namespaces.
# See /work/shared/research/real-node.md for why each setting is there.
set -euo pipefail

cmd="${1:?usage: e2e-node.sh up DIR REGISTRY | down DIR}"
D="${2:?DIR missing}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
K8S_BIN="${K8S_BIN:-$ROOT/bin/k8s}"
APISERVER_PORT="${APISERVER_PORT:-16443}"
ETCD_PORT="${ETCD_PORT:-12379}"
NODE_NAME="${NODE_NAME:-sealift-e2e}"
SYSCTLS="vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables"
CGROUP_ROOT=/sys/fs/cgroup

log() { echo ">> e2e-node: $*" >&2; }

# pids_under prints the pids whose command line mentions DIR (the processes
# this script started, and the containerd shims, which carry DIR's socket).
pids_under() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -qF -- "$D/" && echo "${p#/proc/}"
  done
  return 0
}

# rm_chains removes every jump to and every chain named like $2 in table $1.
rm_chains() {
  local ipt="$1" table="$2" pat="$3" rule chain
  "$ipt" -t "$table" -S >/dev/null 2>&1 || return 0
  while read -r rule; do
    eval "$ipt -w -t $table ${rule/-A /-D }" 2>/dev/null || true
  done < <("$ipt" -w -t "$table" -S 2>/dev/null | grep -E "^-A .*-j ($pat)" || true)
  for chain in $("$ipt" -w -t "$table" -S 2>/dev/null | awk -v p="^($pat)" '$1=="-N" && $2 ~ p {print $2}'); do
    "$ipt" -w -t "$table" -F "$chain" 2>/dev/null || true
  done
  for chain in $("$ipt" -w -t "$table" -S 2>/dev/null | awk -v p="^($pat)" '$1=="-N" && $2 ~ p {print $2}'); do
    "$ipt" -w -t "$table" -X "$chain" 2>/dev/null || true
  done
}

down() {
  [ -d "$D" ] || { log "nothing under $D"; return 0; }
  # 1. Processes: TERM, then KILL what is left (kubelet first, so it restarts nothing).
  local pids i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    pids="$(pids_under)"
    [ -z "$pids" ] && break
    if [ "$i" -lt 6 ]; then kill -TERM $pids 2>/dev/null || true; else kill -KILL $pids 2>/dev/null || true; fi
    sleep 1
  done
  # Container processes (their shims are gone): everything in the kubepods cgroups.
  local f
  for i in 1 2 3; do
    pids="$(find "$CGROUP_ROOT"/*/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)"
    [ -z "$pids" ] && break
    kill -KILL $pids 2>/dev/null || true
    sleep 1
  done
  # 2. Network namespaces the CNI made, the bridge, iptables chains.
  local ns
  for ns in $(ls /var/run/netns 2>/dev/null | grep '^cni-' || true); do
    ip netns delete "$ns" 2>/dev/null || { umount "/var/run/netns/$ns" 2>/dev/null; rm -f "/var/run/netns/$ns"; }
  done
  ip link delete cni0 2>/dev/null || true
  local ipt t
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for t in filter nat mangle; do rm_chains "$ipt" "$t" 'KUBE-|CNI-|SEALIFT-E2E'; done
  done
  # 3. Mounts under DIR (deepest first) and the shim sockets.
  local m
  for m in $(awk '{print $2}' /proc/self/mounts | grep -F -- "$D/" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  # 4. kubepods cgroups (cgroupfs driver), deepest first.
  local ctl
  for ctl in "$CGROUP_ROOT"/*/; do
    [ -d "$ctl/kubepods" ] || continue
    find "$ctl/kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  # 5. Sysctls as they were before the first `up`.
  if [ -f "$D/sysctl.orig" ]; then
    local k v
    while read -r k v; do sysctl -qw "$k=$v" >/dev/null 2>&1 || true; done < "$D/sysctl.orig"
  fi
  rm -rf "$D"
  log "down: $D removed, host restored"
}

pki() {
  local p="$D/pki"
  mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$p/ca.key" -out "$p/ca.crt" -days 2 -subj "/CN=sealift-e2e-ca" 2>/dev/null
  cert() { # name CN O [SANs]
    local name="$1" cn="$2" o="$3" sans="${4:-}"
    openssl req -newkey rsa:2048 -nodes -keyout "$p/$name.key" -out "$p/$name.csr" -subj "/CN=$cn${o:+/O=$o}" 2>/dev/null
    if [ -n "$sans" ]; then
      printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$sans" > "$p/$name.ext"
    else
      printf 'extendedKeyUsage=clientAuth\n' > "$p/$name.ext"
    fi
    openssl x509 -req -in "$p/$name.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 2 -extfile "$p/$name.ext" -out "$p/$name.crt" 2>/dev/null
  }
  cert apiserver kube-apiserver "" "IP:127.0.0.1,IP:$NODE_IP,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
  cert admin sealift-e2e-admin system:masters
  cert apiserver-kubelet kube-apiserver-kubelet-client system:masters
  cert node "system:node:$NODE_NAME" system:nodes
  cert kcm system:kube-controller-manager ""
  cert scheduler system:kube-scheduler ""
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  kubeconfig() { # file cert
    cat > "$D/$1.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: "$p/ca.crt"}
users:
- name: u
  user: {client-certificate: "$p/$2.crt", client-key: "$p/$2.key"}
contexts:
- name: e2e
  context: {cluster: e2e, user: u, namespace: default}
current-context: e2e
KC
  }
  kubeconfig admin admin; kubeconfig kubelet node; kubeconfig kcm kcm; kubeconfig scheduler scheduler
}

wait_for() { # what seconds command...
  local what="$1" secs="$2"; shift 2
  local i
  for ((i = 0; i < secs * 5; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "$what not up after ${secs}s; logs in $D/log"; tail -n 30 "$D"/log/*.log >&2 || true
  return 1
}

up() {
  REGISTRY="${3:?REGISTRY (host:port serving e2e/pause:1) missing}"
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
    [ -x "$K8S_BIN/$b" ] || { log "$K8S_BIN/$b missing: run hack/build-k8s.sh (WITH_KUBECTL=1) and hack/build-node.sh"; exit 1; }
  done
  for b in containerd runc iptables conntrack ip openssl; do
    command -v "$b" >/dev/null || { log "$b missing: apt-get install containerd runc containernetworking-plugins iptables conntrack iproute2 openssl"; exit 1; }
  done
  [ -x /usr/lib/cni/bridge ] || { log "/usr/lib/cni/bridge missing: apt-get install containernetworking-plugins"; exit 1; }
  down
  local t0; t0=$(date +%s.%N)
  mkdir -p "$D/log"
  NODE_IP="$(hostname -I | awk '{print $1}')"
  # Record the sysctls before anything changes them.
  local k
  for k in $SYSCTLS; do v="$(sysctl -n "$k" 2>/dev/null)" && echo "$k $v" >> "$D/sysctl.orig"; done
  modprobe br_netfilter 2>/dev/null || true
  pki

  "$K8S_BIN/etcd" --data-dir "$D/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --unsafe-no-fsync > "$D/log/etcd.log" 2>&1 &
  "$K8S_BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" --advertise-address "$NODE_IP" \
    --cert-dir "$D/pki" --tls-cert-file "$D/pki/apiserver.crt" --tls-private-key-file "$D/pki/apiserver.key" \
    --client-ca-file "$D/pki/ca.crt" --service-cluster-ip-range 10.0.0.0/24 \
    --service-account-issuer "https://kubernetes.default.svc" --service-account-key-file "$D/pki/sa.pub" \
    --service-account-signing-key-file "$D/pki/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --kubelet-client-certificate "$D/pki/apiserver-kubelet.crt" --kubelet-client-key "$D/pki/apiserver-kubelet.key" \
    --kubelet-preferred-address-types InternalIP --allow-privileged=true > "$D/log/kube-apiserver.log" 2>&1 &
  wait_for "kube-apiserver" 60 "$K8S_BIN/kubectl" --kubeconfig "$D/admin.kubeconfig" get --raw /readyz
  log "API server ready in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s"

  "$K8S_BIN/kube-controller-manager" --kubeconfig "$D/kcm.kubeconfig" --authentication-kubeconfig "$D/kcm.kubeconfig" \
    --authorization-kubeconfig "$D/kcm.kubeconfig" --use-service-account-credentials=true \
    --service-account-private-key-file "$D/pki/sa.key" --root-ca-file "$D/pki/ca.crt" \
    --cluster-signing-cert-file "$D/pki/ca.crt" --cluster-signing-key-file "$D/pki/ca.key" \
    --leader-elect=false --secure-port 0 --controllers '*' > "$D/log/kube-controller-manager.log" 2>&1 &
  "$K8S_BIN/kube-scheduler" --kubeconfig "$D/scheduler.kubeconfig" --authentication-kubeconfig "$D/scheduler.kubeconfig" \
    --authorization-kubeconfig "$D/scheduler.kubeconfig" --leader-elect=false --secure-port 0 > "$D/log/kube-scheduler.log" 2>&1 &

  # containerd with its own root, state and socket; the CRI settings of real-node.md.
  local c="$D/containerd"
  mkdir -p "$c/certs.d/$REGISTRY" "$D/cni"
  cat > "$c/certs.d/$REGISTRY/hosts.toml" <<TOML
server = "http://$REGISTRY"
[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
TOML
  cat > "$c/config.toml" <<TOML
version = 2
root = "$c/root"
state = "$c/state"
[grpc]
  address = "$c/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$REGISTRY/e2e/pause:1"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$D/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$c/certs.d"
TOML
  cat > "$D/cni/10-bridge.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "e2e", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
  containerd --config "$c/config.toml" > "$D/log/containerd.log" 2>&1 &
  wait_for containerd 30 test -S "$c/containerd.sock"

  # Pods reach the API server at the kubernetes Service's address without a
  # kube-proxy: one DNAT rule in a chain of our own.
  iptables -w -t nat -N SEALIFT-E2E
  iptables -w -t nat -A SEALIFT-E2E -d 10.0.0.1/32 -p tcp --dport 443 -j DNAT --to-destination "$NODE_IP:$APISERVER_PORT"
  iptables -w -t nat -I PREROUTING -j SEALIFT-E2E
  iptables -w -t nat -I OUTPUT -j SEALIFT-E2E

  cat > "$D/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$c/containerd.sock
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: "$D/pki/ca.crt"}
authorization: {mode: AlwaysAllow}
podLogsDir: "$D/pod-logs"
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
YAML
  "$K8S_BIN/kubelet" --config "$D/kubelet.yaml" --kubeconfig "$D/kubelet.kubeconfig" --root-dir "$D/kubelet" \
    --node-ip "$NODE_IP" --hostname-override "$NODE_NAME" > "$D/log/kubelet.log" 2>&1 &

  local kc=("$K8S_BIN/kubectl" --kubeconfig "$D/admin.kubeconfig")
  wait_for "node Ready" 120 "${kc[@]}" wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
  # Schedulable: the not-ready taint gone.
  wait_for "node untainted" 60 bash -c "[ -z \"\$(${kc[*]} get node $NODE_NAME -o jsonpath='{.spec.taints}')\" ]"
  wait_for "default ServiceAccount" 60 "${kc[@]}" get serviceaccount default
  printf 'NODE_IP=%s\nAPISERVER_PORT=%s\nNODE_NAME=%s\n' "$NODE_IP" "$APISERVER_PORT" "$NODE_NAME" > "$D/env"
  log "node $NODE_NAME Ready and schedulable in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s"
}

case "$cmd" in
  up) up "$@" ;;
  down) down ;;
  *) echo "usage: e2e-node.sh up DIR REGISTRY | down DIR" >&2; exit 2 ;;
esac
