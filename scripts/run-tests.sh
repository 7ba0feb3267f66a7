#!/usr/bin/env bash
# Runs every suite and ends with one line "N passed, N failed" summing them all.
# Each suite prints "pass <name>" / "fail <name>: why" lines; a program that dies
# or exits non-zero without saying why counts as one failure of its own.
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp /tmp/ledgerlet-tests.XXXXXX)
trap 'rm -f "$log"' EXIT

# run <label> <command...>: streams the suite's lines, records its verdicts.
run() {
	local label=$1
	shift
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | grep -E '^(pass|fail|     )' || true
	printf '%s\n' "$out" | grep -E '^(pass|fail) ' >>"$log"
	if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^fail '; then
		echo "fail $label: exited with status $rc"
		printf '%s\n' "$out" | tail -n 20 | sed 's/^/     | /'
		echo "fail $label: exited with status $rc" >>"$log"
	fi
}

echo "== unit"
for t in build/tests/*/*_test; do run "$t" "$t"; done
echo "== unit under ASan+UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in build/asan/tests/*/*_test; do
	run "$t" env LEDGERLET_TEST_TAG=asan "$t"
done
unset ASAN_OPTIONS UBSAN_OPTIONS
echo "== replay scenarios (tests/replay)"
run replay scripts/replay-tests.sh
echo "== purity of src/fsm"
run purity make -s --no-print-directory purity
echo "== end to end"
for t in tests/e2e/*_test.sh; do [ -e "$t" ] && run "$t" bash "$t"; done

passed=$(grep -c '^pass ' "$log")
# The failures again, last, so that a log's tail names them.
if grep -q '^fail ' "$log"; then
	echo "== failed"
	grep '^fail ' "$log"
fi
failed=$(grep -c '^fail ' "$log")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
