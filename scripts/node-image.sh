#!/usr/bin/env bash
# node-image.sh [NAME] builds a Node build image from this machine's own files, with no image
# registry: this host's node and npm, every file of glibc, libstdc++ and libgcc (native
# modules such as rolldown need more than node itself links), and a static busybox for sh and
# the usual tools. It does nothing when the image already exists.
#
# Needs: docker, /usr/bin/node with npm in /usr/lib/node_modules, Debian's busybox-static.
set -euo pipefail

name=${1:-berth-node:local}

if docker image inspect "$name" >/dev/null 2>&1; then
	echo "image $name already exists"
	exit 0
fi

for f in /usr/bin/node /usr/lib/node_modules/npm/bin/npm-cli.js /etc/ssl/certs/ca-certificates.crt; do
	[[ -e $f ]] || { echo "node-image.sh: $f is missing on this host" >&2; exit 1; }
done
# Debian's busybox-static: one static binary that needs nothing from the image.
busybox=/bin/busybox
if ! dpkg -s busybox-static >/dev/null 2>&1 || [[ ! -x $busybox ]]; then
	echo "node-image.sh: a static busybox is needed: apt-get install -y busybox-static" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/usr/{bin,sbin,lib,lib64,local/bin}

# Debian 12 is usr-merged: the top-level directories are symlinks into /usr, so the dynamic
# loader path /lib64/ld-linux-x86-64.so.2 written into every binary resolves as on the host.
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"

# usrpath maps a path as dpkg lists it (/lib/..., /lib64/...) to its place under /usr.
usrpath() {
	case $1 in
	/bin/* | /sbin/* | /lib/* | /lib64/*) echo "/usr$1" ;;
	*) echo "$1" ;;
	esac
}

# Every file of the C and C++ runtimes, symlinks kept as symlinks.
dpkg -L libc6 libstdc++6 libgcc-s1 | grep '^/' | sort -u | while IFS= read -r f; do
	[[ -L $f || -f $f ]] || continue
	dst=$root$(usrpath "$f")
	mkdir -p "$(dirname "$dst")"
	cp -a "$f" "$dst"
done

cp -a /usr/bin/node "$root/usr/bin/node"
cp -a /usr/lib/node_modules "$root/usr/lib/node_modules"
# The same layout as Node's own tarballs and this host: the commands are relative symlinks to
# the JavaScript entry points, which start with "#!/usr/bin/env node".
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
if [[ -e /usr/lib/node_modules/corepack/dist/corepack.js ]]; then
	ln -s ../lib/node_modules/corepack/dist/corepack.js "$root/usr/bin/corepack"
fi

cp "$busybox" "$root/usr/bin/busybox"
for applet in $("$root/usr/bin/busybox" --list); do
	# Never shadow a real program already placed (node, npm, ldconfig, ...).
	[[ -e $root/usr/bin/$applet || -L $root/usr/bin/$applet ]] && continue
	ln -s busybox "$root/usr/bin/$applet"
done

mkdir -p "$root/etc/ssl/certs"
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:node:/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
node:x:1000:
nogroup:x:65534:
EOF
# No systemd or mdns here: users from the files above, hosts from /etc/hosts then DNS. glibc
# 2.34+ has the files and dns backends inside libc.so.6. Docker writes /etc/hosts and
# /etc/resolv.conf into every container; the empty files are only their mount points.
cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd:   files
group:    files
shadow:   files
hosts:    files dns
networks: files
protocols: files
services: files
EOF
: >"$root/etc/hosts"
: >"$root/etc/resolv.conf"
: >"$root/etc/hostname"

mkdir -p "$root/root" "$root/home/node" "$root/tmp" "$root/var/tmp" "$root/dev" "$root/proc" "$root/sys"
chmod 0700 "$root/root"
chmod 1777 "$root/tmp" "$root/var/tmp"
chown 1000:1000 "$root/home/node"

# The loader cache, built for this tree only.
if command -v ldconfig >/dev/null; then
	ldconfig -r "$root"
fi

# HOME is deliberately not set: the runtime sets it from /etc/passwd for whichever user the
# container runs as (/root for root, /home/node for node), which a fixed HOME would break.
tar -C "$root" --numeric-owner -c . |
	docker import \
		-c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
		-c 'CMD ["sh"]' \
		- "$name"
echo "built image $name"
