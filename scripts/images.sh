#!/usr/bin/env bash
# Builds the test images from Debian's busybox-static with umoci and pushes them with
# skopeo into the registry scripts/runtime.sh runs on 127.0.0.1:5000:
#   127.0.0.1:5000/busybox:1  /bin/busybox and every applet as /bin/<name>, /tmp,
#                             /etc/passwd and /etc/group (root, nobody); cmd /bin/sh
#   127.0.0.1:5000/pause:1    the same rootfs, entrypoint /bin/sleep 2147483647
#                             (sleep ignores SIGTERM: the runtime kills it)
# Both carry the label org.ledgerlet.recipe: a hash of the busybox binary and of this
# script. A tag already in the registry with the same label is not built again.
#
# Usage: scripts/images.sh            (needs scripts/runtime.sh start first)
#        LEDGERLET_IMAGES_FORCE=1 scripts/images.sh   rebuild and push regardless
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

DIR=${LEDGERLET_RUNTIME_DIR:-/var/lib/ledgerlet-runtime}
REGISTRY=127.0.0.1:5000
WORK=$DIR/images
BUSYBOX=/bin/busybox

say() { echo "images: $*"; }
die() { echo "images: $*" >&2; exit 1; }

# a quick look first; scripts/deps.sh installs what is missing
if ! command -v umoci >/dev/null || ! command -v skopeo >/dev/null || ! command -v curl >/dev/null ||
	[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" != "install ok installed" ]; then
	scripts/deps.sh runtime
fi
curl -sf -m 2 "http://$REGISTRY/v2/" >/dev/null || die "no registry on $REGISTRY: run scripts/runtime.sh start first"

# what the images are made of: the busybox binary and this script
recipe=$(cat "$BUSYBOX" "$self" | sha256sum | cut -c1-32)

# pushed <name>: the registry has NAME:1 built from this very recipe
pushed() {
	skopeo inspect --tls-verify=false --config "docker://$REGISTRY/$1:1" 2>/dev/null |
		grep -q "\"org.ledgerlet.recipe\": *\"$recipe\""
}

# one build at a time
mkdir -p "$DIR"
exec 8>"$DIR/images.lock"
flock 8
if [ -z "${LEDGERLET_IMAGES_FORCE:-}" ] && pushed busybox && pushed pause; then
	exit 0
fi

t0=$(date +%s%N)
rm -rf "$WORK"
mkdir -p "$WORK"
L=$WORK/layout
B=$WORK/bundle
umoci init --layout "$L"
umoci new --image "$L:busybox-1"
umoci unpack --image "$L:busybox-1" "$B" >/dev/null
R=$B/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/root" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/var/tmp"
chmod 1777 "$R/tmp" "$R/var/tmp"
chmod 0700 "$R/root"
install -m 0755 "$BUSYBOX" "$R/bin/busybox"
# one symlink per applet, made by one process (perl-base is essential; 270 ln forks
# take seconds on a loaded machine)
"$BUSYBOX" --list | grep -vx busybox | (cd "$R/bin" && xargs perl -e '
	for (@ARGV) { symlink("busybox", $_) or die "symlink $_: $!\n" }')
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$R/etc/group"
umoci repack --image "$L:busybox-1" "$B" >/dev/null
umoci config --image "$L:busybox-1" \
	--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--config.workingdir / \
	--config.cmd /bin/sh \
	--config.label "org.ledgerlet.recipe=$recipe"
umoci config --image "$L:busybox-1" --tag pause-1 \
	--clear config.cmd \
	--config.entrypoint /bin/sleep --config.entrypoint 2147483647
for n in busybox pause; do
	skopeo copy --quiet --insecure-policy --dest-tls-verify=false \
		"oci:$L:$n-1" "docker://$REGISTRY/$n:1"
	pushed "$n" || die "pushed $REGISTRY/$n:1, but the registry does not show it"
done
rm -rf "$B"
say "built and pushed $REGISTRY/busybox:1 and $REGISTRY/pause:1 in $((($(date +%s%N) - t0) / 1000000)) ms"
