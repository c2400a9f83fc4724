#!/usr/bin/env bash
# Builds kubelet and kube-scheduler from k8s.io/kubernetes (the node half of the
# e2e cluster) into $K8S_BIN (default bin/k8s), with the same scratch-module
# trick as hack/build-k8s.sh. Binaries already there at the right version are
# kept. Used by `make test-e2e`.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${K8S_BIN:-$ROOT/bin/k8s}"
WORK="$ROOT/bin/.build/node"
STAGING="v0${K8S_VERSION#v1}"   # v1.37.2 -> v0.37.2

stamp_ok() { [ -x "$OUT/$1" ] && [ "$(cat "$OUT/.$1.version" 2>/dev/null)" = "$2" ]; }

need=()
for b in kubelet kube-scheduler; do stamp_ok "$b" "$K8S_VERSION" || need+=("$b"); done
[ "${#need[@]}" -eq 0 ] && { echo ">> $OUT: kubelet and kube-scheduler $K8S_VERSION present"; exit 0; }

mkdir -p "$OUT" "$WORK"
cd "$WORK"
gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
{
  echo "module sealift.local/k8snodebuild"
  echo
  echo "go 1.26"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  # Every staging module (v0.0.0 in kubernetes' go.mod, cri-streaming and streaming included).
  grep -E '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0\s*$' "$gomod" | awk -v v="$STAGING" '{print "replace " $1 " => " $1 " " v}' | sort -u
} > go.mod
echo ">> $(grep -c '^replace' go.mod) replace lines"
pkgs=()
for b in "${need[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b@$K8S_VERSION"); done
go get "${pkgs[@]}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
for b in "${need[@]}"; do
  echo ">> building $b $K8S_VERSION"
  start=$(date +%s)
  CGO_ENABLED=0 go build -buildvcs=false -ldflags "$ldflags" -o "$OUT/$b.tmp" "k8s.io/kubernetes/cmd/$b"
  mv "$OUT/$b.tmp" "$OUT/$b"
  echo "$K8S_VERSION" > "$OUT/.$b.version"
  echo ">> $b built in $(( $(date +%s) - start )) s"
done
