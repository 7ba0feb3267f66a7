#!/usr/bin/env bash
# make run: ledgerlet on a real containerd. Starts the project's containerd and
# registry (scripts/runtime.sh), builds the busybox and pause images
# (scripts/images.sh), and runs ledgerlet on examples/manifests/, printing each
# pod's state changes as they happen. Ctrl-C stops ledgerlet and leaves the pods
# running; `make stop` (demo.sh stop) removes the pods, the runtime and the demo's
# journal.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${LEDGERLET_DEMO_DIR:-/var/lib/ledgerlet-demo}
J=$DEMO/journal

if [ "${1:-}" = stop ]; then
	pkill -TERM -f "build/ledgerlet --journal-dir $J" 2>/dev/null || true
	scripts/runtime.sh stop || true
	# the pods' tmpfs volumes (deepest first) before their directories
	awk -v d="$DEMO/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" || true; done
	rm -rf "$DEMO"
	echo "demo: stopped the runtime and removed $DEMO"
	exit 0
fi

scripts/runtime.sh start
scripts/images.sh
set -a
. <(scripts/runtime.sh env)
set +a
mkdir -p "$DEMO"
echo
echo "ledgerlet runs the pods of examples/manifests/ on containerd ($LEDGERLET_CRI_ENDPOINT)."
echo "Journal: $J   (look into it: build/journal-replay $J --timeline --pod default/crashloop-demo)"
echo "Ctrl-C stops ledgerlet (the pods keep running); make stop removes everything."
echo
exec build/ledgerlet --journal-dir "$J" --hostname-override demo \
	--pod-manifest-path examples/manifests \
	--container-runtime-endpoint "$LEDGERLET_CRI_ENDPOINT" --show-pods
