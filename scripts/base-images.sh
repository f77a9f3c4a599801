#!/usr/bin/env bash
# base-images.sh GO_NAME RUNTIME_NAME [MINIO_NAME MINIO_BIN] builds, with no image registry, the
# base images the Dockerfile test (e2e/install_test.go) passes as GO_IMAGE and RUNTIME_IMAGE,
# and the MinIO image the compose test (e2e/compose_test.go) runs:
#
#   GO_NAME       this host's Go toolchain (go env GOROOT), a static busybox for sh, and the CA
#                 bundle (networks that re-sign TLS need it to reach the module proxy).
#   RUNTIME_NAME  a static busybox, the CA bundle, Debian's iptables and git's upload-pack
#                 with the C runtime they link: what the Dockerfile's default alpine stage
#                 installs with apk.
#   MINIO_NAME    RUNTIME_NAME with the MinIO binary MINIO_BIN (scripts/minio.sh installs it),
#                 started as "minio ARGS...", like the minio/minio image.
#
# Each image is skipped when it already exists. Needs: docker, go, Debian's busybox-static and
# iptables packages.
set -euo pipefail

go_name=${1:-berth-go:local}
runtime_name=${2:-berth-runtime:local}
minio_name=${3:-}
minio_bin=${4:-}

busybox=/bin/busybox
if ! dpkg -s busybox-static >/dev/null 2>&1 || [[ ! -x $busybox ]]; then
	echo "base-images.sh: a static busybox is needed: apt-get install -y busybox-static" >&2
	exit 1
fi
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || { echo "base-images.sh: no CA bundle at /etc/ssl/certs/ca-certificates.crt" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# skeleton ROOT lays out a usr-merged tree with busybox applets, the CA bundle, users and the
# empty files Docker mounts over.
skeleton() {
	local root=$1
	mkdir -p "$root"/usr/{bin,sbin,lib,lib64,local/bin} "$root"/etc/ssl/certs
	ln -s usr/bin "$root/bin"
	ln -s usr/sbin "$root/sbin"
	ln -s usr/lib "$root/lib"
	ln -s usr/lib64 "$root/lib64"
	cp "$busybox" "$root/usr/bin/busybox"
	local applet
	for applet in $("$root/usr/bin/busybox" --list); do
		[[ -e $root/usr/bin/$applet || -L $root/usr/bin/$applet ]] && continue
		ln -s busybox "$root/usr/bin/$applet"
	done
	cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
	: >"$root/etc/hosts"
	: >"$root/etc/resolv.conf"
	: >"$root/etc/hostname"
	mkdir -p "$root/root" "$root/tmp" "$root/var/tmp" "$root/run" "$root/dev" "$root/proc" "$root/sys"
	chmod 0700 "$root/root"
	chmod 1777 "$root/tmp" "$root/var/tmp"
}

if docker image inspect "$go_name" >/dev/null 2>&1; then
	echo "image $go_name already exists"
else
	goroot=$(go env GOROOT)
	root=$tmp/go
	skeleton "$root"
	mkdir -p "$root/usr/local" "$root/go"
	cp -a "$goroot" "$root/usr/local/go"
	# The test's tests and caches are of no use to a build and are most of GOROOT's size.
	rm -rf "$root/usr/local/go/test" "$root/usr/local/go/pkg/obj" "$root/usr/local/go/.git"
	# GOTOOLCHAIN=local: this toolchain is the one go.mod asks for; never download another.
	tar -C "$root" --numeric-owner -c . |
		docker import \
			-c 'ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/bin:/usr/bin:/bin' \
			-c 'ENV GOPATH=/go' \
			-c 'ENV GOTOOLCHAIN=local' \
			-c 'WORKDIR /go' \
			-c 'CMD ["sh"]' \
			- "$go_name"
	echo "built image $go_name"
fi

if docker image inspect "$runtime_name" >/dev/null 2>&1; then
	echo "image $runtime_name already exists"
else
	root=$tmp/runtime
	skeleton "$root"
	usrpath() {
		case $1 in
		/bin/* | /sbin/* | /lib/* | /lib64/*) echo "/usr$1" ;;
		*) echo "$1" ;;
		esac
	}
	# iptables and everything it loads: the C runtime, its libraries and its extensions; and
	# the libraries of git.
	dpkg -L libc6 iptables libip4tc2 libip6tc2 libxtables12 libmnl0 libnetfilter-conntrack3 libnfnetlink0 libnftnl11 \
		libpcre2-8-0 zlib1g |
		grep -E '^/(usr/)?(s?bin|lib|lib64)/' | grep -v '^/usr/lib/.*/gconv/' | sort -u | while IFS= read -r f; do
		[[ -L $f || -f $f ]] || continue
		dst=$root$(usrpath "$f")
		mkdir -p "$(dirname "$dst")"
		cp -a "$f" "$dst"
	done
	# iptables and ip6tables are alternatives (/etc/alternatives) of the host's backend, nft
	# or legacy: the image calls the same one, so its rules land where dockerd's are.
	for cmd in iptables ip6tables; do
		ln -s "$(basename "$(readlink -f "/usr/sbin/$cmd")")" "$root/usr/sbin/$cmd"
	done
	# git: berth clones local paths (file://) with "git upload-pack", as go-git does.
	cp /usr/bin/git "$root/usr/bin/git"
	mkdir -p "$root/usr/lib/git-core"
	ln -s git "$root/usr/bin/git-upload-pack"
	ln -s ../../bin/git "$root/usr/lib/git-core/git-upload-pack"
	# /etc/protocols and /etc/services: iptables resolves "udp", "tcp" and port names.
	cp /etc/protocols /etc/services "$root/etc/" 2>/dev/null || true
	if command -v ldconfig >/dev/null; then
		ldconfig -r "$root"
	fi
	tar -C "$root" --numeric-owner -c . |
		docker import \
			-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			-c 'CMD ["sh"]' \
			- "$runtime_name"
	echo "built image $runtime_name"
fi

if [[ -n $minio_name ]]; then
	if docker image inspect "$minio_name" >/dev/null 2>&1; then
		echo "image $minio_name already exists"
	else
		[[ -x $minio_bin ]] || { echo "base-images.sh: no MinIO binary at '$minio_bin'" >&2; exit 1; }
		ctx=$tmp/minio
		mkdir -p "$ctx"
		cp "$minio_bin" "$ctx/minio"
		printf 'FROM %s\nCOPY minio /usr/bin/minio\nENTRYPOINT ["minio"]\n' "$runtime_name" >"$ctx/Dockerfile"
		DOCKER_BUILDKIT=0 docker build -q -t "$minio_name" "$ctx" >/dev/null
		echo "built image $minio_name"
	fi
fi
