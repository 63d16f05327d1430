#!/usr/bin/env bash
# Installs what the test suite needs, when missing:
#   - the Kafka clients it drives (kcat, librdkafka's and kafka-python's
#     Python bindings for Debian's /usr/bin/python3, with the codecs
#     kafka-python needs for snappy, lz4 and zstd);
#   - PostgreSQL's server (Debian's `postgresql`; the tests run initdb and
#     pg_ctl from /usr/lib/postgresql/*/bin on a loopback port);
#   - versitygw, the S3-compatible server the S3 tests run, built with
#     `go install` into $(go env GOPATH)/bin, where the tests look for it;
#   - Node.js (Debian's `nodejs` and `npm`, when no `node` is on PATH) and
#     the kafkajs scenarios' modules: `npm ci` in test/e2e/kafkajs from its
#     package-lock.json, without install scripts (every codec there is pure
#     JavaScript or WebAssembly), when node_modules is missing or was
#     installed from another lock file;
#   - the console's browser tests: Debian's `chromium` and `npm ci` of
#     playwright-core in test/e2e/console (playwright-core never downloads
#     a browser; the tests launch /usr/bin/chromium);
#   - the same for test/e2e/duckdb (@duckdb/node-api, whose prebuilt
#     binary comes as a per-platform package), which the tableflow tests
#     read Parquet files with.
# Safe to run repeatedly; needs root (or sudo) to install packages.
set -euo pipefail

pkgs=(kcat python3-confluent-kafka python3-kafka python3-snappy python3-lz4 python3-zstandard postgresql chromium
	# confluent_kafka.schema_registry: its HTTP client, JSONSerializer, ProtobufSerializer
	python3-requests python3-jsonschema python3-protobuf)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

versitygw_version=v1.8.0
gobin="$(go env GOBIN)"
if [ -z "$gobin" ]; then gobin="$(go env GOPATH)/bin"; fi
if ! command -v versitygw >/dev/null 2>&1 && [ ! -x "$gobin/versitygw" ]; then
	echo "installing: versitygw $versitygw_version (go install)"
	go install "github.com/versity/versitygw/cmd/versitygw@$versitygw_version"
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "installing: nodejs npm"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends nodejs npm
fi
# node_modules/.installed-lock is the package-lock.json it was installed
# from: a changed lock file reinstalls.
kafkajs_dir="$(cd "$(dirname "$0")/.." && pwd)/test/e2e/kafkajs"
if ! cmp -s "$kafkajs_dir/package-lock.json" "$kafkajs_dir/node_modules/.installed-lock"; then
	echo "installing: kafkajs test modules (npm ci in test/e2e/kafkajs)"
	(cd "$kafkajs_dir" && npm ci --ignore-scripts --no-audit --no-fund &&
		cp package-lock.json node_modules/.installed-lock)
fi

for dir in console duckdb; do
	d="$(cd "$(dirname "$0")/.." && pwd)/test/e2e/$dir"
	if ! cmp -s "$d/package-lock.json" "$d/node_modules/.installed-lock"; then
		echo "installing: test/e2e/$dir modules (npm ci)"
		(cd "$d" && npm ci --ignore-scripts --no-audit --no-fund &&
			cp package-lock.json node_modules/.installed-lock)
	fi
done
