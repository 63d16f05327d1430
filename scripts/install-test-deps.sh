#!/usr/bin/env bash
# Installs the system packages the test suite needs, when missing: the Kafka
# clients it drives (kcat, librdkafka's and kafka-python's Python bindings for
# Debian's /usr/bin/python3, with the codecs kafka-python needs for snappy,
# lz4 and zstd). Safe to run repeatedly; needs root (or sudo) to install.
set -euo pipefail

pkgs=(kcat python3-confluent-kafka python3-kafka python3-snappy python3-lz4 python3-zstandard)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
