# The README's test command is `make test`; .ci/run calls exactly that.
GO ?= go
FUZZTIME ?=

.PHONY: build test deps verify unit fuzz-short bench bench-scale bench-cost bench-go fmt kmsg-vendor chaos chaos-short chaos-netns helm-test

build:
	$(GO) build -buildvcs=auto -o bin/sluice ./cmd/sluice

# test: install missing client packages, check formatting and vet, run every
# test with the race detector, then run each fuzz target briefly.
test: deps verify unit helm-test chaos-short fuzz-short

deps:
	bash scripts/install-test-deps.sh

verify:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

# helm-test: lint and render deploy/helm/sluice (its own module, so Helm
# and Kubernetes are not dependencies of the agent).
helm-test:
	cd deploy/helm && $(GO) vet ./... && $(GO) test -count=1 ./...

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
	$(GO) test -run '^$$' -fuzz '^FuzzDispatch$$' -fuzztime $(or $(FUZZTIME),15000x) ./internal/kafka
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCommitNotice$$' -fuzztime $(or $(FUZZTIME),20000x) ./internal/metadata
	$(GO) test -run '^$$' -fuzz '^FuzzParseRecent$$' -fuzztime $(or $(FUZZTIME),100000x) ./internal/metadata/sequencer
	$(GO) test -run '^$$' -fuzz '^FuzzArrayCol$$' -fuzztime $(or $(FUZZTIME),20000x) ./internal/metadata/postgres
	$(GO) test -run '^$$' -fuzz '^FuzzParseAvro$$' -fuzztime $(or $(FUZZTIME),20000x) ./internal/schemaregistry/schema
	$(GO) test -run '^$$' -fuzz '^FuzzParseProtobuf$$' -fuzztime $(or $(FUZZTIME),10000x) ./internal/schemaregistry/schema
	$(GO) test -run '^$$' -fuzz '^FuzzParseJSON$$' -fuzztime $(or $(FUZZTIME),20000x) ./internal/schemaregistry/schema
	$(GO) test -run '^$$' -fuzz '^FuzzValidatePayload$$' -fuzztime $(or $(FUZZTIME),50000x) ./internal/schemaregistry/schema
	$(GO) test -run '^$$' -fuzz '^FuzzScramServer$$' -fuzztime $(or $(FUZZTIME),20000x) ./internal/auth
	$(GO) test -run '^$$' -fuzz '^FuzzParsePlain$$' -fuzztime $(or $(FUZZTIME),100000x) ./internal/auth
	$(GO) test -run '^$$' -fuzz '^FuzzParseOAuthBearer$$' -fuzztime $(or $(FUZZTIME),100000x) ./internal/auth
	$(GO) test -run '^$$' -fuzz '^FuzzPrincipalMapping$$' -fuzztime $(or $(FUZZTIME),50000x) ./internal/auth
	$(GO) test -run '^$$' -fuzz '^FuzzParseQuery$$' -fuzztime $(or $(FUZZTIME),20000x) ./internal/query
	$(GO) test -run '^$$' -fuzz '^FuzzProtoDecode$$' -fuzztime $(or $(FUZZTIME),10000x) ./internal/tableflow
	$(GO) test -run '^$$' -fuzz '^FuzzJSONSchemaColumns$$' -fuzztime $(or $(FUZZTIME),10000x) ./internal/tableflow
	$(GO) test -run '^$$' -fuzz '^FuzzJSONDirect$$' -fuzztime $(or $(FUZZTIME),10000x) ./internal/tableflow

# bench: the standard workload against sluice dev and kfake (minutes; not
# part of test). Quick: RECORDS=50000 E2E_DURATION=5s ROUNDS=1 make bench
bench:
	bash bench/run.sh

# bench-scale: many partitions (1,000 and 10,000 by default) on SQLite and
# PostgreSQL (minutes; not part of test). Larger: SIZES="1000 10000 100000".
bench-scale:
	bash bench/scale.sh

# bench-cost: agents in 3 zones on versitygw and PostgreSQL, 1 GiB produced
# and consumed, requests, storage and cross-zone bytes priced (minutes).
bench-cost:
	bash bench/cost.sh

# bench-go: Go micro-benchmarks of the hot paths, with allocations.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/records ./internal/segment ./internal/produce ./internal/fetch ./internal/metadata/sqlite ./internal/kafka

fmt:
	gofmt -w $$(git ls-files '*.go')

# kmsg-vendor: rebuild third_party/kmsg from upstream kmsg v1.15.0 and
# third_party/kmsg.patch (see third_party/kmsg.md).
kmsg-vendor:
	bash scripts/vendor-kmsg.sh

# chaos: three agents on PostgreSQL and versitygw under a mixed Kafka
# workload while agents, the database and the bucket fail on a schedule;
# prints the anomalies per class (all must be 0) and the faults injected,
# and fails on any anomaly. Not part of test. See docs/reliability.md.
# Short: make chaos DURATION=60s. Long: make chaos DURATION=60m
# CHAOS_TIMEOUT=150m (the test's own bound must exceed the run, the
# cluster's start and the final read).
DURATION ?= 5m
CHAOS_TIMEOUT ?= 60m
chaos:
	SLUICE_CHAOS=1 CHAOS_DURATION=$(DURATION) $(GO) test -count=1 -timeout $(CHAOS_TIMEOUT) -run '^TestChaos$$' -v ./test/chaos

# chaos-netns: the same with network partitions: each agent in a network
# namespace, links cut one way or both between an agent and PostgreSQL,
# the bucket, another agent or the clients. Needs root (skips with a
# message otherwise); not part of test. CHAOS_FAULTS=all mixes the
# partitions with every other fault. See docs/reliability.md.
chaos-netns:
	DURATION=$(DURATION) CHAOS_TIMEOUT=$(CHAOS_TIMEOUT) GO=$(GO) bash scripts/chaos-netns.sh

# chaos-short: the same for 45 seconds, part of test (about two minutes
# with the build and the final read).
chaos-short:
	$(MAKE) chaos DURATION=45s CHAOS_TIMEOUT=15m
