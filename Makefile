# sealift — make targets. `make demo` and `make test` are the two a newcomer needs.

GO         ?= go
BIN        := $(CURDIR)/bin
K8S_BIN    := $(BIN)/k8s
export KUBEBUILDER_ASSETS ?= $(K8S_BIN)

# The default suite must stay well inside CI's time; slow suites have their own targets.
TEST_TIMEOUT ?= 30m

.PHONY: all build tools test vet fmt-check unit demo bench fuzz clean

all: build

## build: the sealift binary in bin/
build:
	$(GO) build -o $(BIN)/sealift ./cmd/sealift

## tools: kube-apiserver, kube-controller-manager and etcd built from their Go modules into bin/k8s (cached)
tools:
	@bash hack/build-k8s.sh

## vet: go vet and gofmt
vet: fmt-check
	$(GO) vet ./...

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## test: everything CI runs — tools, vet, and the race-enabled test suite against a real registry and API server
test: tools vet
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

## unit: the tests without rebuilding tools or vetting
unit:
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...

## demo: push a signed artifact to a local registry, apply it to a local API server, and watch an unsigned one refused
demo: build
	@bash hack/demo.sh

## bench: benchmarks (not part of `make test`)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## fuzz: run each fuzz target for a short while (FUZZTIME=30s)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo ">> $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN)/sealift $(BIN)/demo
