# sealift — make targets. `make demo` and `make test` are the two a newcomer needs.

GO         ?= go
BIN        := $(CURDIR)/bin
K8S_BIN    := $(BIN)/k8s
export KUBEBUILDER_ASSETS ?= $(K8S_BIN)

# The default suite must stay well inside CI's time; slow suites have their own targets.
TEST_TIMEOUT ?= 30m

.PHONY: all build tools test vet fmt-check unit demo bench fuzz clean test-crash test-interop test-conformance test-airgap bench-verify bench-pull bench-apply bench-mirror generate verify-generated image bench-engine bench-fleet test-e2e

# controller-gen is pinned in hack/tools/go.mod (its own module, so its
# dependencies stay out of sealift's go.mod) and built once into bin/.
CONTROLLER_GEN := $(BIN)/controller-gen
CONTROLLER_GEN_ARGS = object paths=./api/... crd:crdVersions=v1 paths=./api/...

all: build

## build: the sealift, sealift-registry and sealift-controller binaries in bin/
build:
	$(GO) build -o $(BIN)/sealift ./cmd/sealift
	$(GO) build -o $(BIN)/sealift-registry ./cmd/sealift-registry
	$(GO) build -o $(BIN)/sealift-controller ./cmd/sealift-controller

## image: the sealift and sealift-registry images (linux/amd64 + linux/arm64, reproducible) as OCI layouts in bin/image/,
##        or pushed with IMAGE=host/repo:tag (the registry image to host/repo-registry:tag), signed with KEY=cosign.key;
##        the last line printed is the sealift image's index digest
IMAGE            ?=
REGISTRY_IMAGE   ?=
KEY              ?=
PLATFORMS        ?= linux/amd64,linux/arm64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null)
IMAGE_VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null)
image:
	@$(GO) run ./hack/image -out $(BIN)/image -platforms $(PLATFORMS) -created $(SOURCE_DATE_EPOCH) \
	  -revision "$(IMAGE_REVISION)" -version "$(IMAGE_VERSION)" \
	  $(if $(IMAGE),-image $(IMAGE)) $(if $(REGISTRY_IMAGE),-registry-image $(REGISTRY_IMAGE)) $(if $(KEY),-key $(KEY))

## tools: kube-apiserver, kube-controller-manager and etcd built from their Go modules into bin/k8s (cached)
tools:
	@bash hack/build-k8s.sh

## vet: go vet and gofmt
vet: fmt-check
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && $(GO) build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

## generate: the Sync CRD (config/crd) and deep-copy functions (api/v1alpha1) from the API's markers
generate: $(CONTROLLER_GEN)
	$(CONTROLLER_GEN) $(CONTROLLER_GEN_ARGS) output:crd:dir=config/crd

## verify-generated: fail when the committed CRD or deep-copy functions differ from a fresh generation
verify-generated: $(CONTROLLER_GEN)
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	$(CONTROLLER_GEN) $(CONTROLLER_GEN_ARGS) output:object:dir=$$tmp/object output:crd:dir=$$tmp/crd && \
	diff -u api/v1alpha1/zz_generated.deepcopy.go $$tmp/object/zz_generated.deepcopy.go && \
	diff -u config/crd/sealift.dev_syncs.yaml $$tmp/crd/sealift.dev_syncs.yaml || \
	{ echo "generated files are stale: run \`make generate\` and commit the result"; exit 1; }

## test: everything CI runs — tools, generated files, vet, and the race-enabled test suite against a real registry and API server
test: tools verify-generated vet
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

## unit: the tests without rebuilding tools or vetting
unit:
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

## demo: push a signed artifact to a local registry, apply it to a local API server, and watch an unsigned one refused
demo: build
	@bash hack/demo.sh

## test-crash: kill a cache writer with SIGKILL 100 times (SEALIFT_CRASH_ITERATIONS) and check the cache after each
test-crash:
	bash hack/cache-crash.sh

## test-interop: build cosign v2 and v3 (cached in bin/) and check signatures both ways against them
test-interop:
	@bash hack/interop.sh

## test-conformance: the OCI distribution-spec conformance suite (built once into bin/) against `sealift registry serve` on a loopback port, plain and with TLS + htpasswd
test-conformance: build
	@bash hack/conformance.sh

## test-airgap: the air-gap end-to-end test in network namespaces (needs root; installs iproute2 when ip is missing)
AIRGAP_TIMEOUT ?= 20m
test-airgap: build tools
	@command -v ip >/dev/null 2>&1 || apt-get install -y iproute2 || { apt-get update && apt-get install -y iproute2; }
	$(GO) test -tags airgap -count=1 -v -timeout $(AIRGAP_TIMEOUT) ./test/airgap/

## test-e2e: a real single-node cluster (kubelet, containerd, runc, CNI; needs root and fixed ports): make image,
##           sealift install, the controller as a Pod applying a signed artifact (installs the Debian packages when missing)
E2E_TIMEOUT ?= 30m
E2E_DEBS := containerd runc containernetworking-plugins iptables conntrack iproute2 openssl
test-e2e: build
	@for b in etcd kube-apiserver kube-controller-manager kubectl; do [ -x "$(KUBEBUILDER_ASSETS)/$$b" ] || { WITH_KUBECTL=1 bash hack/build-k8s.sh; break; }; done
	@K8S_BIN=$(KUBEBUILDER_ASSETS) bash hack/build-node.sh
	@missing=""; for c in containerd runc iptables conntrack ip openssl; do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	[ -x /usr/lib/cni/bridge ] || missing=1; \
	[ -z "$$missing" ] || apt-get install -y $(E2E_DEBS) || { apt-get update && apt-get install -y $(E2E_DEBS); }
	K8S_BIN=$(KUBEBUILDER_ASSETS) $(GO) test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) ./test/e2e/

## bench-verify: sealift verify vs cosign verify, side by side
bench-verify:
	@INTEROP_BENCH=1 bash hack/interop.sh

## bench: Go benchmarks, then the side-by-side peer comparisons (not part of `make test`)
bench: bench-pull bench-apply
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-pull: sealift push/pull vs oras push/pull of a 5 MB / 1 000-file artifact
bench-pull:
	@bash hack/bench-pull.sh

## bench-mirror: a release of 20 artifacts + 10 images to a tar, into a registry, and vs crane cp one by one (MIRROR_ROUNDS rounds)
MIRROR_ROUNDS ?= 5
bench-mirror:
	$(GO) test -run '^$$' -bench '^BenchmarkMirrorRelease$$' -benchtime $(MIRROR_ROUNDS)x ./mirror/

## bench-apply: sealift vs kubectl apply --server-side of 1 000 objects on the local API server
bench-apply:
	@bash hack/bench-apply.sh

# Fleet benchmarks (hack/fleet): a real API server with an audit log, a
# registry process counting requests, N signed podinfo-shaped artifacts.
comma := ,
ROUNDS ?=
FLEET_FLAGS = -assets $(K8S_BIN) -bin $(BIN)$(if $(ROUNDS), -rounds $(ROUNDS))

## bench-engine: sealift-controller alone on N Syncs (N=100,1000 unless set; BIG=1 adds 10 000): time to all Ready, CPU, peak RSS, API and registry requests per Sync, steady state
bench-engine: build tools
	$(GO) run ./hack/fleet engine -n $(or $(N),100$(comma)1000)$(if $(BIG),$(comma)10000) $(FLEET_FLAGS)

## bench-fleet: the same fleet delivered by sealift and by Flux's source- and kustomize-controller (built into bin/flux), side by side (N=100,500,1000 unless set)
bench-fleet: build tools
	$(GO) run ./hack/fleet flux -n $(or $(N),100$(comma)500$(comma)1000) $(FLEET_FLAGS)

## fuzz: run each fuzz target for a short while (FUZZTIME=30s)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo ">> $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN)/sealift $(BIN)/sealift-registry $(BIN)/sealift-controller $(BIN)/demo
