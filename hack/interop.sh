#!/usr/bin/env bash
# Interop suite: builds the real cosign CLIs (v2 and v3) from their Go modules
# into bin/ (cached: a binary at the right version is not rebuilt), then runs
# the interop-tagged tests, which sign and verify in both directions against
# the in-process registry. Used by `make test-interop`.
#
#   COSIGN_V2_VERSION, COSIGN_V3_VERSION  versions to build
#   INTEROP_BUILD_ONLY=1                  build the binaries and stop
#   INTEROP_BENCH=1                       also run the verify benchmark against cosign
#                                         (BENCHTIME, default 20x), printing the ratio
set -euo pipefail

COSIGN_V2_VERSION="${COSIGN_V2_VERSION:-v2.6.5}"
COSIGN_V3_VERSION="${COSIGN_V3_VERSION:-v3.1.3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/bin"
WORK="$BIN/.build"
mkdir -p "$BIN" "$WORK"

stamp_ok() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.version" 2>/dev/null)" = "$2" ]; }

# build_cosign NAME MAJOR VERSION: builds cmd/cosign of module
# github.com/sigstore/cosign/MAJOR at VERSION into bin/NAME. `go install
# module@version` refuses modules with replace directives, so the build runs
# in a scratch module that requires cosign and copies its replace lines.
build_cosign() {
  local name="$1" major="$2" version="$3"
  local module="github.com/sigstore/cosign/$major"
  if stamp_ok "$name" "$version"; then
    return
  fi
  echo ">> building cosign $version into bin/$name"
  local start=$SECONDS
  if ! GOBIN="$WORK/$name.gobin" go install "$module/cmd/cosign@$version" 2>"$WORK/$name.install.log"; then
    echo "   go install refused ($(head -c 300 "$WORK/$name.install.log" | tr '\n' ' ')); building in a scratch module"
    local mod="$WORK/$name"
    rm -rf "$mod" && mkdir -p "$mod"
    local gomod
    gomod="$(go mod download -json "$module@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    {
      echo "module sealift.local/${name}build"
      echo
      echo "go 1.26"
      echo
      echo "require $module $version"
      echo
      awk '/^replace \(/{inblock=1; next} inblock && /^\)/{inblock=0; next} inblock{print "replace " $0; next} /^replace /{print}' "$gomod"
    } > "$mod/go.mod"
    (cd "$mod" && go get "$module/cmd/cosign@$version" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/$name" "$module/cmd/cosign")
  else
    mv "$WORK/$name.gobin/cosign" "$BIN/$name"
  fi
  echo "$version" > "$BIN/.$name.version"
  echo "   built bin/$name in $((SECONDS - start))s"
}

build_cosign cosign-v2 v2 "$COSIGN_V2_VERSION"
build_cosign cosign-v3 v3 "$COSIGN_V3_VERSION"

if [ "${INTEROP_BUILD_ONLY:-}" = 1 ]; then
  exit 0
fi

cd "$ROOT"
export SEALIFT_COSIGN_V2="$BIN/cosign-v2" SEALIFT_COSIGN_V3="$BIN/cosign-v3"
go test -race -tags interop -count=1 -run 'Interop' ./verify/ "$@"

if [ "${INTEROP_BENCH:-}" = 1 ]; then
  # The benchmark execs a sealift built from this tree, without the race detector.
  go build -o "$WORK/sealift-bench" ./cmd/sealift
  SEALIFT_BIN="$WORK/sealift-bench" go test -tags interop -count=1 -run '^$' -bench 'InteropVerify' \
    -benchtime "${BENCHTIME:-20x}" ./verify/
fi
