#!/usr/bin/env bash
# Real apps for berth's end-to-end tests, unpacked from npm packages that ship
# project templates (and express, whose version the Node server app pins).
# Idempotent: a package already unpacked is skipped.
#
#   scripts/fixtures.sh DIR    unpack into DIR/<package name>/
#
# A scoped package lands where node_modules would put it: @scope/name unpacks
# into DIR/@scope/name/. Every spec must pin an exact version.
set -euo pipefail

dir="${1:?usage: $0 DIR}"
packages=(
	"create-vite@9.3.0"
	"create-next-app@15.5.28"
	"@fontsource/inter@5.3.0"
	"@octokit/webhooks-examples@7.6.1"
	"express@4.21.2"
)

mkdir -p "$dir"
for spec in "${packages[@]}"; do
	name="${spec%@*}" # the last @ starts the version; a scope's @ is first
	if [[ -z "$name" || "$name" == "$spec" ]]; then
		echo "fixtures: $spec: pin a version (name@x.y.z)" >&2
		exit 1
	fi
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
