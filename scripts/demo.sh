#!/usr/bin/env bash
# make run: the demo. Today it shows the journal at work — what the node saw,
# verified, exported, and the daemon starting on it by replay. The pods on a real
# containerd arrive with the CRI issue, and this script grows with them.
# `make stop` (demo.sh stop) removes what the demo made.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${LEDGERLET_DEMO_DIR:-/var/lib/ledgerlet-demo}
J=$DEMO/journal

if [ "${1:-}" = stop ]; then
	pkill -TERM -f "build/ledgerlet --journal-dir $J" 2>/dev/null || true
	rm -rf "$DEMO"
	echo "demo: removed $DEMO"
	exit 0
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
mkdir -p "$DEMO"
if [ ! -e "$J/data.mdb" ]; then
	say "importing examples/events/first-pod.jsonl into the journal at $J"
	build/journal-replay --import examples/events/first-pod.jsonl --journal "$J"
fi
say "what the journal holds (journal-replay $J --info)"
build/journal-replay "$J" --info
say "every record checked, the whole journal re-folded (journal-replay $J --verify)"
build/journal-replay "$J" --verify
say "the events, as JSON lines (journal-replay $J --export)"
build/journal-replay "$J" --export | cut -c1-160
say "the daemon: replays the journal, reports, waits; Ctrl-C stops it"
exec build/ledgerlet --journal-dir "$J" --hostname-override demo-node
