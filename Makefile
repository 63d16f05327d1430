# The README's test command is `make test`; .ci/run calls exactly that.
GO ?= go
FUZZTIME ?=

.PHONY: build test deps verify unit fuzz-short bench bench-go fmt

build:
	$(GO) build -o bin/sluice ./cmd/sluice

# test: install missing client packages, check formatting and vet, run every
# test with the race detector, then run each fuzz target briefly.
test: deps verify unit fuzz-short

deps:
	bash scripts/install-test-deps.sh

verify:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

# Each fuzz target for a number of executions (about ten seconds each on
# this 2-core machine). Counts, not durations: Go 1.26's fuzz coordinator
# can fail a duration-bound run with a spurious "context deadline exceeded"
# at the deadline (go.dev/issue/75804, fixed in Go 1.27). Override with
# e.g. FUZZTIME=30s. New crashers land in testdata/fuzz.
fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(or $(FUZZTIME),150000x) ./internal/segment
	$(GO) test -run '^$$' -fuzz '^FuzzFileCRC32C$$' -fuzztime $(or $(FUZZTIME),100000x) ./internal/segment
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(or $(FUZZTIME),10000x) ./internal/kafka
	$(GO) test -run '^$$' -fuzz '^FuzzDecompress$$' -fuzztime $(or $(FUZZTIME),100000x) ./internal/records
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(or $(FUZZTIME),15000x) ./internal/records
	$(GO) test -run '^$$' -fuzz '^FuzzValidateWindow$$' -fuzztime $(or $(FUZZTIME),15000x) ./internal/records
	$(GO) test -run '^$$' -fuzz '^FuzzRecordIter$$' -fuzztime $(or $(FUZZTIME),100000x) ./internal/records
	$(GO) test -run '^$$' -fuzz '^FuzzParseRecent$$' -fuzztime $(or $(FUZZTIME),100000x) ./internal/metadata/seq

# bench: the standard workload against sluice dev and kfake (minutes; not
# part of test). Quick: RECORDS=50000 E2E_DURATION=5s ROUNDS=1 make bench
bench:
	bash bench/run.sh

# bench-go: Go micro-benchmarks of the hot paths, with allocations.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/records ./internal/segment ./internal/produce ./internal/fetch ./internal/metadata/sqlite ./internal/kafka

fmt:
	gofmt -w $$(git ls-files '*.go')
