# Qingliu — the two commands a newcomer needs:
#   make run    the whole pipeline on the embedded default, with simulated stations
#   make test   every test, against real NATS, InfluxDB 1.8.10 and Mosquitto
# Both install what they need on a fresh machine (Go is the only prerequisite;
# Mosquitto comes from Debian packages, InfluxDB is built from the Go module proxy).

GO      ?= go
TOOLS   := $(CURDIR)/tools/bin
INFLUXD := $(TOOLS)/influxd
BIN     := $(CURDIR)/bin/qingliu
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: all build run test test-short deps test-deps tools lint fuzz bench bench-e2e clean check

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/qingliu

tools: $(INFLUXD)

# InfluxDB OSS 1.8.10 is the only InfluxDB that builds here (newer ones need Rust).
$(INFLUXD):
	@echo "building InfluxDB 1.8.10 into tools/bin (about a minute, once)"
	GOBIN=$(TOOLS) $(GO) install github.com/influxdata/influxdb/cmd/influxd@v1.8.10

deps: tools
	@scripts/deps.sh

test-deps: tools
	@scripts/deps.sh --browser

run: build deps
	@QINGLIU_EVENT="$(EVENT)" scripts/run.sh $(BIN)

check: build
	$(BIN) check

test: test-deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -race -timeout 20m ./...

test-short:
	$(GO) test -count=1 -short ./...

lint:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

fuzz:
	$(GO) test ./ingest -run '^$$' -fuzz FuzzJSON -fuzztime 60s
	$(GO) test ./ingest -run '^$$' -fuzz FuzzSenML -fuzztime 60s
	$(GO) test ./ingest/hj212 -run '^$$' -fuzz FuzzParse -fuzztime 60s
	$(GO) test ./ingest/hj212 -run '^$$' -fuzz FuzzReader -fuzztime 60s
	$(GO) test ./ingest -run '^$$' -fuzz FuzzHJ212Handle -fuzztime 60s
	$(GO) test ./internal/mqttgate -run '^$$' -fuzz FuzzFramer -fuzztime 60s
	$(GO) test ./internal/mqttgate -run '^$$' -fuzz FuzzParseConnect -fuzztime 60s
	$(GO) test ./standards/water -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 60s
	$(GO) test ./standards/water -run '^$$' -fuzz FuzzParseClass -fuzztime 60s
	$(GO) test ./cmd/qingliu -run '^$$' -fuzz FuzzParseAssignments -fuzztime 60s
	$(GO) test ./cmd/qingliu -run '^$$' -fuzz FuzzWaterClassCmd -fuzztime 60s
	# The table parsers' seeds are whole YAML files: with the default 60 s
	# minimisation per new input a 60 s run would do a handful of executions.
	$(GO) test ./standards/aqi -run '^$$' -fuzz FuzzParseVersion -fuzztime 60s -fuzzminimizetime 2s
	$(GO) test ./standards/aqi -run '^$$' -fuzz FuzzParseValidity -fuzztime 60s -fuzzminimizetime 2s
	$(GO) test ./standards/aqi -run '^$$' -fuzz FuzzCompute -fuzztime 60s
	$(GO) test ./standards/severity -run '^$$' -fuzz FuzzParse -fuzztime 60s -fuzzminimizetime 2s
	$(GO) test ./domain -run '^$$' -fuzz FuzzParseLevel -fuzztime 60s
	$(GO) test ./registry -run '^$$' -fuzz FuzzUnits -fuzztime 60s

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-e2e: build deps
	@scripts/bench-e2e.sh $(BIN)

clean:
	rm -rf bin data
