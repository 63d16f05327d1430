#!/usr/bin/env bash
# Builds the patched kmsg that go.mod's replace directive points at:
# upstream github.com/twmb/franz-go/pkg/kmsg at the version below, from the
# Go module proxy, plus third_party/kmsg.patch (see third_party/kmsg.md).
#
#   scripts/vendor-kmsg.sh             rewrite third_party/kmsg
#   scripts/vendor-kmsg.sh DIR         write the patched copy to DIR instead
#
# TestVendoredKmsgIsUpstreamPlusPatch (third_party/) runs the second form
# and compares the result with third_party/kmsg byte for byte.
set -euo pipefail
version=v1.15.0
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/third_party/kmsg}"

src="$(cd "$root" && go mod download -json "github.com/twmb/franz-go/pkg/kmsg@$version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
[ -d "$src" ] || { echo "vendor-kmsg: module kmsg@$version not found" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp -r "$src" "$tmp/kmsg"
chmod -R u+w "$tmp/kmsg"
(cd "$tmp/kmsg" && git apply -p1 "$root/third_party/kmsg.patch")
rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -r "$tmp/kmsg" "$out"
