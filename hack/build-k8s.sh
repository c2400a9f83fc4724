#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from their Go modules
# into bin/k8s/, skipping binaries that are already there at the right version.
# Used by `make tools`; the tests find the binaries through KUBEBUILDER_ASSETS.
# With WITH_KUBECTL=1 it also builds kubectl (for hack/bench-apply.sh) from the
# same scratch module.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/bin/k8s"
WORK="$ROOT/bin/.build"
STAGING="v0${K8S_VERSION#v1}"   # v1.37.2 -> v0.37.2

mkdir -p "$OUT" "$WORK"
unset GOFLAGS_EXTRA || true

stamp_ok() { [ -x "$OUT/$1" ] && [ "$(cat "$OUT/.$1.version" 2>/dev/null)" = "$2" ]; }

if ! stamp_ok kube-apiserver "$K8S_VERSION" || ! stamp_ok kube-controller-manager "$K8S_VERSION"; then
  echo ">> building kube-apiserver and kube-controller-manager $K8S_VERSION (first time: tens of minutes on 2 cores)"
  mod="$WORK/kubernetes"
  rm -rf "$mod" && mkdir -p "$mod"
  cd "$mod"
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  {
    echo "module sealift.local/k8sbuild"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    grep -E '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0\s*$' "$gomod" | awk -v v="$STAGING" '{print "replace " $1 " => " $1 " " v}' | sort -u
  } > go.mod
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION"
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  CGO_ENABLED=0 go build -buildvcs=false -ldflags "$ldflags" -o "$OUT/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  echo "$K8S_VERSION" > "$OUT/.kube-apiserver.version"
  CGO_ENABLED=0 go build -buildvcs=false -ldflags "$ldflags" -o "$OUT/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
  echo "$K8S_VERSION" > "$OUT/.kube-controller-manager.version"
fi

if [ "${WITH_KUBECTL:-0}" = 1 ] && ! stamp_ok kubectl "$K8S_VERSION"; then
  echo ">> building kubectl $K8S_VERSION"
  mod="$WORK/kubernetes"
  [ -f "$mod/go.mod" ] || { echo "build-k8s: $mod/go.mod missing; run without WITH_KUBECTL first" >&2; exit 1; }
  cd "$mod"
  go get "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION"
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  CGO_ENABLED=0 go build -buildvcs=false -ldflags "$ldflags" -o "$OUT/kubectl" k8s.io/kubernetes/cmd/kubectl
  echo "$K8S_VERSION" > "$OUT/.kubectl.version"
fi

if ! stamp_ok etcd "$ETCD_VERSION"; then
  echo ">> building etcd $ETCD_VERSION"
  mod="$WORK/etcd"
  rm -rf "$mod" && mkdir -p "$mod"
  cd "$mod"
  cat > go.mod <<MOD
module sealift.local/etcdbuild

go 1.26

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  cat > main.go <<'GO'
// Command etcd runs the etcd server for sealift's tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go mod tidy
  CGO_ENABLED=0 go build -buildvcs=false -ldflags "-s -w" -o "$OUT/etcd" .
  echo "$ETCD_VERSION" > "$OUT/.etcd.version"
fi

echo ">> $OUT: $(ls "$OUT" | tr '\n' ' ')"
