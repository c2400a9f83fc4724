#!/usr/bin/env bash
# Slow suite: kills a cache writer process with SIGKILL at many random points
# and checks after each kill that the cache opens, re-hashes clean and keeps
# every committed revision. SEALIFT_CRASH_ITERATIONS sets the number of kills
# (default 100); the default `go test` run makes only a few.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export SEALIFT_CRASH_ITERATIONS="${SEALIFT_CRASH_ITERATIONS:-100}"
exec go test -race -count=1 -timeout 30m -run '^TestCrashSafety$' -v ./cache/
