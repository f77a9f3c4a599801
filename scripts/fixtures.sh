#!/usr/bin/env bash
# Real apps for berth's end-to-end tests, unpacked from npm packages that ship
# project templates. Idempotent: a package already unpacked is skipped.
#
#   scripts/fixtures.sh DIR    unpack into DIR/<package name>/
set -euo pipefail

dir="${1:?usage: $0 DIR}"
packages=(
	"create-vite@9.3.0"
)

mkdir -p "$dir"
for spec in "${packages[@]}"; do
	name="${spec%@*}"
	if [[ -f "$dir/$name/.complete" ]]; then
		continue
	fi
	tmp="$(mktemp -d)"
	(cd "$tmp" && npm pack --silent "$spec" >/dev/null)
	rm -rf "${dir:?}/$name"
	mkdir -p "$dir/$name"
	tar -xzf "$tmp"/*.tgz -C "$dir/$name" --strip-components=1
	rm -rf "$tmp"
	touch "$dir/$name/.complete"
	echo "fixtures: unpacked $spec into $dir/$name" >&2
done
