#!/usr/bin/env bash
# Side-by-side apply benchmark on a local API server (envtest binaries in
# bin/k8s): sealift (render + staged server-side apply) against
# `kubectl apply --server-side` of the same 1 000 objects (ConfigMaps, Services,
# Deployments across 10 namespaces): create time, re-apply of the unchanged
# set (requests per object and writes), and the memory of applying 10 000
# objects. Prints the ratios, and the floor the API server sets: the same
# creates sent by a bare client, one at a time and concurrently. Sizes:
# BENCH_OBJECTS, BENCH_MEMORY_OBJECTS; client settings: BENCH_CONCURRENCY,
# BENCH_QPS, BENCH_BURST.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [ ! -x bin/k8s/kubectl ]; then
  WITH_KUBECTL=1 hack/build-k8s.sh
fi
go test -tags benchapply -count=1 -timeout 30m -run 'TestBenchApply' -v ./deploy/ \
  | grep -E '^(objects|create|floor|re-apply|memory):|^(--- |ok|FAIL)|_test.go:'
