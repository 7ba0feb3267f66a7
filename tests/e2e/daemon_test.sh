#!/usr/bin/env bash
# The daemon and its journal, end to end: a clean stop on SIGTERM, one daemon per
# journal, quiet restarts, private files, and refusing a damaged journal unless
# told to recover it. Prints "pass <name>" / "fail <name>: why" lines.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=build/ledgerlet
replay=build/journal-replay
tmp=$(mktemp -d /tmp/ledgerlet-e2e.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
J=$tmp/journal

pass() { echo "pass e2e/daemon/$1"; }
fail() { echo "fail e2e/daemon/$1: $2"; }

# wait_for <file> <pattern> <seconds>
wait_for() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

tip() { "$replay" "$J" --info 2>/dev/null | sed -n 's/^tip_seq \([0-9]*\)$/\1/p'; }

# 1. start, report, stop on SIGTERM with status 0
$bin --journal-dir "$J" --hostname-override node-a >"$tmp/a.log" 2>&1 &
pid=$!
if wait_for "$tmp/a.log" "ready" 5; then
	kill -TERM $pid
	wait $pid
	rc=$?
	if [ $rc -eq 0 ] && grep -q "stopped" "$tmp/a.log"; then pass stops_cleanly_on_sigterm
	else fail stops_cleanly_on_sigterm "exit status $rc; log: $(tail -n 3 "$tmp/a.log")"; fi
else
	fail stops_cleanly_on_sigterm "never ready: $(cat "$tmp/a.log")"
	kill -9 $pid 2>/dev/null
fi

# 2. private files
mode_dir=$(stat -c %a "$J")
mode_files=$(stat -c %a "$J"/data.mdb "$J"/lock.mdb "$J"/ledgerlet.lock | sort -u | tr '\n' ' ')
if [ "$mode_dir" = 700 ] && [ "$mode_files" = "600 " ]; then pass journal_files_are_private
else fail journal_files_are_private "dir $mode_dir, files $mode_files"; fi

# 3. one daemon per journal
$bin --journal-dir "$J" --hostname-override node-a >"$tmp/b.log" 2>&1 &
pid=$!
wait_for "$tmp/b.log" "ready" 5
$bin --journal-dir "$J" --hostname-override node-a --once >"$tmp/c.log" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "in use by another writer (pid $pid)" "$tmp/c.log"; then
	pass second_daemon_is_refused
else
	fail second_daemon_is_refused "status $rc; log: $(cat "$tmp/c.log")"
fi
kill -TERM $pid
wait $pid

# 4. a restart with the same configuration writes nothing
before=$(tip)
$bin --journal-dir "$J" --hostname-override node-a --once >"$tmp/d.log" 2>&1
after=$(tip)
if [ -n "$before" ] && [ "$before" = "$after" ]; then pass unchanged_restart_is_quiet
else fail unchanged_restart_is_quiet "tip went from '$before' to '$after'"; fi

# 5. a changed configuration is journaled
for n in 1 2 3 4 5 6; do
	$bin --journal-dir "$J" --hostname-override "node-marker-$n" --once >/dev/null 2>&1
done
after2=$(tip)
if [ "$after2" = $((after + 6)) ]; then pass changed_config_is_journaled
else fail changed_config_is_journaled "tip $after2, want $((after + 6))"; fi

# 6. a damaged record stops the daemon, and names the seq
cp -a "$J" "$tmp/pristine"
/usr/bin/python3 - "$J/data.mdb" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
# LMDB copies pages on write, so stale copies of the record may lie in free
# pages: damage every copy, the live one among them.
i = b.find(b'node-marker-3')
assert i > 0, "marker not found"
while i >= 0:
    b[i + 5] ^= 0x20
    i = b.find(b'node-marker-3', i + 1)
open(p, 'wb').write(bytes(b))
PY
bad_seq=$((after + 3))
$bin --journal-dir "$J" --once >"$tmp/e.log" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "seq $bad_seq" "$tmp/e.log" && grep -q -- "--recover-journal" "$tmp/e.log"; then
	pass damaged_journal_is_refused_and_named
else
	fail damaged_journal_is_refused_and_named "status $rc; log: $(cat "$tmp/e.log")"
fi

cp "$tmp/e.log" "$tmp/refused.log"
# 7. --recover-journal keeps what verifies and sets the rest aside
$bin --journal-dir "$J" --hostname-override node-r --recover-journal --once >"$tmp/f.log" 2>&1
rc=$?
aside=$(ls -d "$J"/damaged-* 2>/dev/null | head -n 1)
if [ $rc -eq 0 ] && grep -q "kept seq 1..$((bad_seq - 1))" "$tmp/f.log" &&
	grep -q "set aside 4 entries (from seq $bad_seq)" "$tmp/f.log" &&
	[ -f "$aside/data.mdb" ] && [ -s "$aside/set-aside.log" ]; then
	pass recovery_keeps_what_verifies
else
	fail recovery_keeps_what_verifies "status $rc, aside '$aside'; log: $(cat "$tmp/f.log")"
fi
# ... and the journal goes on from there
if "$replay" "$J" --verify >/dev/null 2>&1 && [ "$(tip)" = "$bad_seq" ]; then
	pass journal_goes_on_after_recovery
else
	fail journal_goes_on_after_recovery "tip $(tip), want $bad_seq"
fi

# 8. kill -9 while running: the next start opens and verifies
rm -rf "$J"
cp -a "$tmp/pristine" "$J"
$bin --journal-dir "$J" --hostname-override node-k >"$tmp/g.log" 2>&1 &
pid=$!
wait_for "$tmp/g.log" "ready" 5
{ kill -9 $pid && wait $pid; } 2>/dev/null
$bin --journal-dir "$J" --hostname-override node-k --once >"$tmp/h.log" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q ready "$tmp/h.log"; then pass restart_after_kill9
else fail restart_after_kill9 "status $rc; log: $(cat "$tmp/h.log")"; fi
