# Vigil. Two commands set everything up on a fresh machine:
#   make demo   stand up a real Rekor v1 + v2 on 127.0.0.1 and watch them
#   make test   build the pinned test servers and tools, then run every test
SHELL := bash
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false
VIGIL_CACHE ?= $(HOME)/.cache/vigil
export VIGIL_CACHE

.PHONY: all build test unit lint tools stack-up stack-down demo bench tidy clean

all: build

build:
	go build -o bin/ ./cmd/monitor ./cmd/bootstrap

# Everything CI runs: tools, the local stack, lint, go test -race ./... .
test:
	scripts/test.sh

# Unit tests only: no servers (integration tests skip outside CI).
unit:
	go test ./...

lint:
	scripts/lint.sh

# Build the pinned test tools (promtool, alertmanager, cosign, Kubernetes
# control plane) into $(VIGIL_CACHE)/bin.
tools:
	scripts/tools/all.sh

stack-up:
	scripts/stack/up.sh

stack-down:
	scripts/stack/down.sh

demo:
	scripts/demo.sh

bench:
	scripts/bench.sh

tidy:
	go mod tidy
	git diff --exit-code go.mod go.sum

clean:
	rm -rf bin
