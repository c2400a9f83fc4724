#!/usr/bin/env bash
# bench-pull.sh: sealift push/pull against oras push/pull, side by side, in
# one run, against the same local registry, for an artifact of FILES files
# totalling about SIZE_MB MB. Prints wall and CPU time per operation and the
# sealift/oras ratios (below 1.00 means sealift is faster).
#
#   hack/bench-pull.sh            # 5 MB / 1000 files, 10 rounds
#   ROUNDS=20 hack/bench-pull.sh
#
# oras is built once into bin/oras from its module and reused.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/bin"
ORAS_VERSION="${ORAS_VERSION:-v1.3.6}"
ROUNDS="${ROUNDS:-10}"
FILES="${FILES:-1000}"
SIZE_MB="${SIZE_MB:-5}"
PORT="${PORT:-5077}"

if [[ ! -x "$BIN/oras" ]] || ! "$BIN/oras" version 2>/dev/null | grep -q "${ORAS_VERSION#v}"; then
  echo ">> building oras $ORAS_VERSION into bin/ (once)"
  GOBIN="$BIN" go install "oras.land/oras/cmd/oras@$ORAS_VERSION"
fi

WORK="$(mktemp -d)"
REG_PID=""
cleanup() {
  if [[ -n "$REG_PID" ]]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo ">> building sealift"
go build -o "$WORK/sealift" "$ROOT/cmd/sealift"
go build -o "$WORK/sealift-registry" "$ROOT/cmd/sealift-registry"
SEALIFT="$WORK/sealift"
ORAS="$BIN/oras"

"$SEALIFT" registry serve --root "$WORK/registry" --addr "127.0.0.1:$PORT" 2>"$WORK/registry.log" &
REG_PID=$!
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
HOST="127.0.0.1:$PORT"

# The artifact: FILES manifests in 10 directories, each a ConfigMap-like
# YAML document with a block of base64 data (compresses like real data).
echo ">> generating $FILES files, about $SIZE_MB MB"
SRC="$WORK/app"
per=$(( SIZE_MB * 1024 * 1024 / FILES ))
head -c $(( SIZE_MB * 1024 * 1024 * 3 / 4 + FILES * 64 )) /dev/urandom | base64 -w 76 > "$WORK/pool"
awk -v dir="$SRC" -v files="$FILES" -v per="$per" '
  BEGIN { n = 0; size = 0; open_file() }
  function open_file() {
    d = sprintf("%s/part-%02d", dir, n % 10)
    system("mkdir -p " d)
    f = sprintf("%s/cm-%04d.yaml", d, n)
    printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%04d\ndata:\n  blob: |\n", n > f
    size = 0
  }
  {
    if (n >= files) exit
    printf "    %s\n", $0 > f
    size += length($0) + 5
    if (size >= per) { close(f); n++; if (n < files) open_file() }
  }' "$WORK/pool"
actual_files=$(find "$SRC" -type f | wc -l)
actual_kb=$(du -sk --apparent-size "$SRC" | cut -f1)
echo "   $actual_files files, $(( actual_kb / 1024 )) MB"

# measure NAME CMD...: runs CMD, appends "wall_ms cpu_ms" to $WORK/NAME.
measure() {
  local name="$1"; shift
  local t0 t1 c0 c1
  # Flush what earlier commands left dirty, so no tool pays for another's
  # writeback.
  sync
  c0=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  t0=$(date +%s%N)
  "$@" >/dev/null 2>"$WORK/last.err" || { echo "!! $name failed:"; cat "$WORK/last.err"; exit 1; }
  t1=$(date +%s%N)
  c1=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  local tick; tick=$(getconf CLK_TCK)
  echo "$(( (t1 - t0) / 1000000 )) $(( (c1 - c0) * 1000 / tick ))" >> "$WORK/$name"
}

cd "$WORK"
echo ">> $ROUNDS rounds, alternating tools"
for i in $(seq "$ROUNDS"); do
  # Push to a fresh repository each round so every blob is uploaded; which
  # tool goes first alternates.
  if (( i % 2 )); then
    measure sealift-push "$SEALIFT" push "$SRC" "oci://$HOST/bench/sealift-$i:v1" --insecure
    measure oras-push "$ORAS" push --plain-http --disable-path-validation "$HOST/bench/oras-$i:v1" "app"
  else
    measure oras-push "$ORAS" push --plain-http --disable-path-validation "$HOST/bench/oras-$i:v1" "app"
    measure sealift-push "$SEALIFT" push "$SRC" "oci://$HOST/bench/sealift-$i:v1" --insecure
  fi
  # Both pull the same artifact: the one oras pushed (a directory layer).
  # Which goes first alternates, so neither always follows the pushes.
  if (( i % 2 )); then
    measure sealift-pull "$SEALIFT" pull "oci://$HOST/bench/oras-1:v1" --insecure -o "$WORK/out-s-$i"
    measure oras-pull "$ORAS" pull --plain-http "$HOST/bench/oras-1:v1" -o "$WORK/out-o-$i"
  else
    measure oras-pull "$ORAS" pull --plain-http "$HOST/bench/oras-1:v1" -o "$WORK/out-o-$i"
    measure sealift-pull "$SEALIFT" pull "oci://$HOST/bench/oras-1:v1" --insecure -o "$WORK/out-s-$i"
  fi
  # sealift's own Flux-format artifact, for reference.
  measure sealift-pull-flux "$SEALIFT" pull "oci://$HOST/bench/sealift-1:v1" --insecure -o "$WORK/out-f-$i"
  rm -rf "$WORK/out-s-$i" "$WORK/out-o-$i" "$WORK/out-f-$i"
done

# median FILE COLUMN
median() { cut -d' ' -f"$2" "$1" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
mb=$(awk -v kb="$actual_kb" 'BEGIN { printf "%.1f", kb / 1024 }')

printf "\n%-20s %10s %10s %14s\n" "operation (median)" "wall ms" "cpu ms" "cpu ms per MB"
for n in sealift-push oras-push sealift-pull oras-pull sealift-pull-flux; do
  w=$(median "$WORK/$n" 1); c=$(median "$WORK/$n" 2)
  printf "%-20s %10s %10s %14s\n" "$n" "$w" "$c" "$(awk -v c="$c" -v mb="$mb" 'BEGIN { printf "%.1f", c / mb }')"
done
echo
echo "push ratio sealift/oras: wall $(ratio "$(median "$WORK/sealift-push" 1)" "$(median "$WORK/oras-push" 1)"), cpu $(ratio "$(median "$WORK/sealift-push" 2)" "$(median "$WORK/oras-push" 2)")"
echo "pull ratio sealift/oras: wall $(ratio "$(median "$WORK/sealift-pull" 1)" "$(median "$WORK/oras-pull" 1)"), cpu $(ratio "$(median "$WORK/sealift-pull" 2)" "$(median "$WORK/oras-pull" 2)")"
