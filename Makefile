# dlq — build, test, lint, demo, release checks.
# `make test` is the project's test command (README, .ci/run).

GO              ?= go
VERSION         ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS         := -s -w -X main.version=$(VERSION)
GOLANGCI_LINT   := $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
GORELEASER      := $(GO) run github.com/goreleaser/goreleaser/v2@v2.15.1
export CGO_ENABLED ?= 0

.PHONY: all build test unit lint fmt vet tidy docs docs-check golangci demo bench release-check clean

all: build

## build: the dlq binary in bin/
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dlq ./cmd/dlq

## test: lint, then every test with the race detector against moto_server
test: lint unit

unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./...

## lint: gofmt, go vet, go mod tidy, generated docs up to date, golangci-lint
lint: fmt vet tidy docs-check golangci

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

tidy:
	$(GO) mod tidy -diff

golangci:
	$(GOLANGCI_LINT) run ./...

## docs: regenerate the command reference in docs/cli
docs:
	$(GO) run ./cmd/gendocs -markdown docs/cli

docs-check:
	@tmp=$$(mktemp -d); $(GO) run ./cmd/gendocs -markdown $$tmp && diff -r $$tmp docs/cli >/dev/null \
		|| { echo "docs/cli is stale: run make docs"; rm -rf $$tmp; exit 1; }; rm -rf $$tmp

## demo: the order pipeline on a local emulator, and the runbook with dlq
demo: build
	$(GO) run ./cmd/dlq-demo -dlq bin/dlq

## bench: inspect over 300 queues against moto (wall time and AWS calls)
bench:
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench BenchmarkInspect -benchtime 3x ./internal/cli/root/

## release-check: validate .goreleaser.yaml
release-check:
	$(GORELEASER) check

clean:
	rm -rf bin dist
