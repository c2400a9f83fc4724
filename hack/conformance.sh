#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite
# (github.com/opencontainers/distribution-spec/conformance, pinned in
# hack/conformance/go.mod and built once into bin/oci-conformance) against
# `sealift registry serve` on a free loopback port, twice: as it starts by
# default (plain HTTP, no auth) and hardened as on an air-gapped site (TLS
# and htpasswd). Results, with the suite's HTML report, are kept in
# bin/conformance/<run>/. Used by `make test-conformance`; needs bin/sealift
# and bin/sealift-registry (make build).
#
# Two parts of the suite are switched off, because the distribution registry
# behind sealift-registry (v3.1) does not implement them, not because of how
# sealift configures it:
#   OCI_API_REFERRER=false  no referrers API (GET /v2/<name>/referrers/<digest>
#                           answers 404, and a manifest push with a subject gets
#                           no OCI-Subject header); clients fall back to the
#                           referrers tag schema, which sealift's mirror and
#                           verify use and its tests cover.
#   OCI_DATA_SHA512=false   blobs pushed under sha512 digests are acknowledged
#                           with their sha256 digest.
# CONFORMANCE_FULL=1 runs with both switched on, to see where the server stands.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/bin"
MOD="$ROOT/hack/conformance"
SUITE="$BIN/oci-conformance"
VERSION="$(sed -n 's#^\s*github.com/opencontainers/distribution-spec/conformance \(v[^ ]*\).*#\1#p' "$MOD/go.mod")"

for b in sealift sealift-registry; do
  [ -x "$BIN/$b" ] || { echo "conformance: $BIN/$b missing; run make build" >&2; exit 1; }
done

if [ ! -x "$SUITE" ] || [ "$(cat "$BIN/.oci-conformance.version" 2>/dev/null)" != "$VERSION" ]; then
  echo ">> building the conformance suite $VERSION"
  (cd "$MOD" && go build -o "$SUITE" github.com/opencontainers/distribution-spec/conformance)
  echo "$VERSION" > "$BIN/.oci-conformance.version"
fi

work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# serve NAME ARGS...: starts sealift registry serve on a free loopback port
# and sets addr once it says where it serves.
serve() {
  local name="$1"; shift
  "$BIN/sealift" registry serve --root "$work/$name-root" --addr 127.0.0.1:0 "$@" 2>"$work/$name.log" &
  pid=$!
  addr=""
  for _ in $(seq 1 600); do
    addr="$(sed -n 's#^serving registry on https\{0,1\}://\([^ ]*\) from .*#\1#p' "$work/$name.log")"
    [ -n "$addr" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$work/$name.log" >&2; echo "conformance: the registry did not start" >&2; exit 1; }
    sleep 0.1
  done
  echo "conformance: the registry did not say where it serves within a minute" >&2
  exit 1
}

stop() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}

failed=0
# suite NAME ENV...: runs the suite with ENV and prints its summary.
suite() {
  local name="$1"; shift
  local results="$BIN/conformance/$name"
  rm -rf "$results" && mkdir -p "$results"
  local full=()
  if [ "${CONFORMANCE_FULL:-0}" != 1 ]; then
    full=(OCI_API_REFERRER=false OCI_DATA_SHA512=false)
  fi
  echo ">> conformance ($name) against $addr"
  set +e
  env OCI_REGISTRY="$addr" OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/repo2 \
    OCI_RESULTS_DIR="$results" OCI_LOG=error OCI_VERSION=1.1 "${full[@]}" "$@" \
    "$SUITE" >"$results/output.txt" 2>&1
  local rc=$?
  set -e
  sed -n '/^OCI Conformance Result/,$p' "$results/output.txt"
  # The suite exits 0 without results when its configuration is wrong.
  if [ "$rc" != 0 ] || [ ! -s "$results/results.yaml" ] || ! grep -qi '^OCI Conformance Result: PASS' "$results/output.txt"; then
    echo "conformance ($name): FAILED, see $results/output.txt and report.html" >&2
    failed=1
  else
    echo "conformance ($name): PASS (report: $results/report.html)"
  fi
}

serve plain
suite plain OCI_TLS=disabled
stop

user=conformance
pass="conformance-$$-$RANDOM$RANDOM"
(cd "$MOD" && go run ./mkcreds "$work" "$user" "$pass")
serve hardened --tls-cert "$work/server.pem" --tls-key "$work/server-key.pem" --htpasswd "$work/htpasswd"
# OCI_TLS=enabled verifies the server's certificate; SSL_CERT_FILE makes the
# self-signed one the only root the suite trusts.
suite hardened OCI_TLS=enabled SSL_CERT_FILE="$work/server.pem" OCI_USERNAME="$user" OCI_PASSWORD="$pass"
stop

exit "$failed"
