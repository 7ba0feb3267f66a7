#!/usr/bin/env bash
# Runs the replay scenarios of tests/replay/: each NAME.jsonl is folded with
# journal-replay --auto-timers, and its --status and --commands outputs must equal
# NAME.status and NAME.commands byte for byte. Prints "pass replay/NAME" or
# "fail replay/NAME: ..." with the first lines of the difference.
#
#   scripts/replay-tests.sh [NAME...]            check
#   UPDATE_GOLDEN=1 scripts/replay-tests.sh NAME  (re)write NAME's golden files
#
# A golden file changes only with a reviewed reason in the commit message.
set -uo pipefail
cd "$(dirname "$0")/.."
tool=build/journal-replay
dir=tests/replay
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in "$dir"/*.jsonl; do [ -e "$f" ] && names+=("$(basename "$f" .jsonl)"); done
fi
tmp=$(mktemp -d /tmp/ledgerlet-replay.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for n in "${names[@]}"; do
	src=$dir/$n.jsonl
	if [ ! -f "$src" ]; then
		echo "fail replay/$n: no $src"
		continue
	fi
	ok=1
	why=""
	for what in status commands; do
		if ! "$tool" "$src" --auto-timers "--$what" >"$tmp/$what" 2>"$tmp/err"; then
			ok=0
			why="journal-replay --$what failed: $(head -c 300 "$tmp/err")"
			break
		fi
		if [ "${UPDATE_GOLDEN:-}" = 1 ]; then
			cp "$tmp/$what" "$dir/$n.$what"
			continue
		fi
		if [ ! -f "$dir/$n.$what" ]; then
			ok=0
			why="no golden file $dir/$n.$what (make it with UPDATE_GOLDEN=1 after reviewing the output)"
			break
		fi
		if ! cmp -s "$tmp/$what" "$dir/$n.$what"; then
			ok=0
			why="--$what differs from $n.$what:
$(diff "$dir/$n.$what" "$tmp/$what" | head -n 8 | cut -c1-240 | sed 's/^/     | /')"
			break
		fi
	done
	if [ $ok = 1 ]; then echo "pass replay/$n"; else echo "fail replay/$n: $why"; fi
done
