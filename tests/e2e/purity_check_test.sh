#!/usr/bin/env bash
# The purity check itself must fail when it should: an object that reads the
# clock, or that keeps mutable static state, is named. (A check that cannot fail
# proves nothing about src/fsm/.)
set -uo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d /tmp/ledgerlet-purity.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

printf '#include <time.h>\nlong f(void) { return (long)time(0); }\n' >"$tmp/clock.c"
printf 'static int n;\nint g(void) { return ++n; }\n' >"$tmp/state.c"
printf '#include <string.h>\nstatic const char *const t[] = {"a"};\nsize_t h(int i) { return strlen(t[i]); }\n' >"$tmp/pure.c"
for f in clock state pure; do gcc -O2 -fPIE -c -o "$tmp/$f.o" "$tmp/$f.c" || exit 1; done

out=$(scripts/purity-check.sh "$tmp/clock.o")
if echo "$out" | grep -q '^fail purity/symbols:.*\btime\b'; then echo "pass e2e/purity/names_a_clock_read"
else echo "fail e2e/purity/names_a_clock_read: $out"; fi
out=$(scripts/purity-check.sh "$tmp/state.o")
if echo "$out" | grep -q '^fail purity/state:.*\bn\b'; then echo "pass e2e/purity/names_mutable_state"
else echo "fail e2e/purity/names_mutable_state: $out"; fi
out=$(scripts/purity-check.sh "$tmp/pure.o")
if ! echo "$out" | grep -q '^fail'; then echo "pass e2e/purity/accepts_const_tables"
else echo "fail e2e/purity/accepts_const_tables: $out"; fi
