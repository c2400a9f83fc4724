#!/usr/bin/env bash
# make demo: the whole journey on this machine — a local registry, a key pair,
# a signed push, a verified sync to a real API server, and an unsigned
# artifact refused. Cleans up every process it starts.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SEALIFT="$ROOT/bin/sealift"
DEMO="$ROOT/bin/demo"
ADDR="${SEALIFT_DEMO_ADDR:-127.0.0.1:5055}"
REPO="oci://$ADDR/apps/podinfo"
export COSIGN_PASSWORD="${COSIGN_PASSWORD:-sealift-demo}"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

rm -rf "$DEMO" && mkdir -p "$DEMO"

if [ -n "${KUBECONFIG:-}" ]; then
  step "Using the cluster in \$KUBECONFIG ($KUBECONFIG)"
  KC="$KUBECONFIG"
else
  step "Building the local API server and kubectl if needed (first time: tens of minutes on 2 cores)"
  WITH_KUBECTL=1 make -s -C "$ROOT" tools
  step "Starting etcd and kube-apiserver on 127.0.0.1"
  KC="$DEMO/kubeconfig"
  (cd "$ROOT" && go build -o "$DEMO/devcluster" ./hack/devcluster)
  "$DEMO/devcluster" -assets "$ROOT/bin/k8s" -out "$KC" 2>"$DEMO/devcluster.log" &
  pids+=($!)
  for _ in $(seq 1 120); do
    [ -s "$KC" ] && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 1
  done
  [ -s "$KC" ] || { cat "$DEMO/devcluster.log"; echo "API server did not start" >&2; exit 1; }
fi

step "Starting a registry: sealift registry serve --root $DEMO/registry --addr $ADDR"
"$SEALIFT" registry serve --root "$DEMO/registry" --addr "$ADDR" 2>"$DEMO/registry.log" &
pids+=($!)
for _ in $(seq 1 50); do curl -fsS "http://$ADDR/v2/" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://$ADDR/v2/" >/dev/null || { cat "$DEMO/registry.log"; echo "registry did not start on $ADDR (set SEALIFT_DEMO_ADDR to use another address)" >&2; exit 1; }

step "Generating a cosign key pair: sealift key generate"
"$SEALIFT" key generate --output-dir "$DEMO"

step "Pushing and signing examples/podinfo: sealift push ... --sign"
"$SEALIFT" push "$ROOT/examples/podinfo/manifests" "$REPO:6.7.1" \
  --source https://github.com/sealift-dev/sealift --revision "demo" \
  --insecure --sign --key "$DEMO/cosign.key" -o json

step "Verifying the signature: sealift verify"
"$SEALIFT" verify "$REPO:6.7.1" --key "$DEMO/cosign.pub" --insecure

step "Applying it: sealift sync --once -f sync.yaml"
sed "s#oci://127.0.0.1:5055/apps/podinfo#$REPO#" "$ROOT/examples/podinfo/sync.yaml" > "$DEMO/sync.yaml"
"$SEALIFT" sync --once -f "$DEMO/sync.yaml" --kubeconfig "$KC" --cache-dir "$DEMO/cache"

step "Nothing left to change: sealift diff -f sync.yaml (server-side dry run of the verified artifact)"
"$SEALIFT" diff -f "$DEMO/sync.yaml" --kubeconfig "$KC" --cache-dir "$DEMO/cache"

step "Carrying it across an air gap with its signatures: sealift mirror (registry -> tar -> another repository)"
"$SEALIFT" mirror "$REPO:6.7.1" "tar:$DEMO/podinfo.tar" --key "$DEMO/cosign.pub" --insecure
"$SEALIFT" mirror "tar:$DEMO/podinfo.tar" "oci://$ADDR/airgap/podinfo" --insecure
"$SEALIFT" verify "oci://$ADDR/airgap/podinfo:6.7.1" --key "$DEMO/cosign.pub" --insecure

step "What the cache holds: sealift cache ls"
"$SEALIFT" cache ls --cache-dir "$DEMO/cache"

step "Pushing an UNSIGNED change (tag 6.7.2) and trying to apply it"
mkdir -p "$DEMO/unsigned" && cp "$ROOT"/examples/podinfo/manifests/*.yaml "$DEMO/unsigned/"
sed -i 's/delivered by sealift/tampered, unsigned/' "$DEMO/unsigned/configmap.yaml"
"$SEALIFT" push "$DEMO/unsigned" "$REPO:6.7.2" --insecure
sed 's/tag: "6.7.1"/tag: "6.7.2"/' "$DEMO/sync.yaml" > "$DEMO/sync-unsigned.yaml"
if "$SEALIFT" sync --once -f "$DEMO/sync-unsigned.yaml" --kubeconfig "$KC" --cache-dir "$DEMO/cache"; then
  echo "the unsigned artifact was applied: this is a bug" >&2
  exit 1
fi
echo "refused, as it should be: nothing from the unsigned artifact reached the API server"

step "Re-applying the last verified revision from the cache alone: sealift sync --once --offline"
"$SEALIFT" sync --once --offline -f "$DEMO/sync.yaml" --kubeconfig "$KC" --cache-dir "$DEMO/cache"

KUBECTL="$ROOT/bin/k8s/kubectl"
if [ ! -x "$KUBECTL" ]; then
  KUBECTL="$(command -v kubectl || true)"
  if [ -z "$KUBECTL" ]; then WITH_KUBECTL=1 make -s -C "$ROOT" tools; KUBECTL="$ROOT/bin/k8s/kubectl"; fi
fi
k() { "$KUBECTL" --kubeconfig "$KC" "$@"; }
# until SECONDS CMD...: run CMD every second until it succeeds.
until_ok() {
  local n="$1"; shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  "$@"
}
message() { k -n podinfo get configmap podinfo-config -o jsonpath='{.data.PODINFO_UI_MESSAGE}'; }
message_is() { [ "$(message)" = "$1" ]; }

step "The engine: the same Sync as an object, reconciled by sealift controller"
k apply --server-side -f "$ROOT/config/crd/sealift.dev_syncs.yaml"
k create namespace sealift-system --dry-run=client -o yaml | k apply -f - >/dev/null
k -n sealift-system create secret generic podinfo-keys --from-file=cosign.pub="$DEMO/cosign.pub" --dry-run=client -o yaml | k apply -f -
cat > "$DEMO/sync-engine.yaml" <<YAML
apiVersion: sealift.dev/v1alpha1
kind: Sync
metadata:
  name: podinfo
  namespace: sealift-system
spec:
  source:
    url: $REPO
    ref:
      tag: "6.7.1"
    insecure: true
  verify:
    mode: enforce
    keys:
      - secretRef:
          name: podinfo-keys
  prune: true
  drift: correct
  interval: 10s
  timeout: 2m
YAML
"$ROOT/bin/sealift" controller --kubeconfig "$KC" --cache-dir "$DEMO/engine-cache" \
  --metrics-addr 127.0.0.1:18080 --health-addr 127.0.0.1:19440 --log-encoding console 2>"$DEMO/controller.log" &
pids+=($!)
k apply -f "$DEMO/sync-engine.yaml"
k -n sealift-system wait --for=condition=Ready sync/podinfo --timeout=120s
k -n sealift-system get syncs

step "A new signed push of tag 6.7.1 is picked up by itself (interval 10s), the Sync untouched"
mkdir -p "$DEMO/v2" && cp "$ROOT"/examples/podinfo/manifests/*.yaml "$DEMO/v2/"
sed -i 's/delivered by sealift/delivered by the sealift engine/' "$DEMO/v2/configmap.yaml"
"$SEALIFT" push "$DEMO/v2" "$REPO:6.7.1" --insecure --sign --key "$DEMO/cosign.key" >/dev/null
until_ok 60 message_is "delivered by the sealift engine"
echo "podinfo-config now says: $(message)"
k -n sealift-system get syncs

step "A hand edit is taken back within seconds (drift: correct, watched, not polled)"
k -n podinfo patch configmap podinfo-config --type merge -p '{"data":{"PODINFO_UI_MESSAGE":"edited by hand"}}'
until_ok 30 message_is "delivered by the sealift engine"
echo "podinfo-config says again: $(message)"

step "An UNSIGNED push of tag 6.7.1: the Sync stalls with the reason, the workload stays"
"$SEALIFT" push "$DEMO/unsigned" "$REPO:6.7.1" --insecure >/dev/null
k -n sealift-system wait --for=condition=Stalled sync/podinfo --timeout=60s
k -n sealift-system get syncs
message_is "delivered by the sealift engine" || { echo "the unsigned artifact changed the workload: this is a bug" >&2; exit 1; }
echo "podinfo-config still says: $(message)"

step "The engine's metrics: curl 127.0.0.1:18080/metrics | grep sealift_"
curl -fsS http://127.0.0.1:18080/metrics | grep -E '^sealift_(sync_ready|reconcile_total|verify_total|drift_corrected_total)' | head -20

step "Done; stopping the controller, the registry and the API server"
