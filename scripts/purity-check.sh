#!/usr/bin/env bash
# DESIGN.md contract 2: the fold links on its own. The objects of src/fsm/ are
# linked into one relocatable object; every symbol it still needs must be on the
# allowlist (allocation, string/memory, math, json-c). Anything else — a clock, a
# file, a socket, another module — fails the check and is named.
set -uo pipefail
[ $# -gt 0 ] || { echo "fail purity: no fsm objects given"; exit 1; }
tmp=$(mktemp /tmp/fsm-purity.XXXXXX.o)
trap 'rm -f "$tmp"' EXIT
if ! ld -r -o "$tmp" "$@" 2>/tmp/fsm-purity.err; then
	echo "fail purity/link: $(head -n 3 /tmp/fsm-purity.err)"
	exit 1
fi
allow='^(malloc|calloc|realloc|free|strdup|strndup|memcpy|memmove|memset|memcmp|memchr|memmem|strlen|strnlen|strcmp|strncmp|strchr|strrchr|strstr|strspn|strcspn|strtol|strtoll|strtoul|strtoull|strtod|snprintf|vsnprintf|qsort|bsearch|abs|labs|llabs|__assert_fail|__stack_chk_fail|__isoc99_sscanf|__isoc23_strtol|__isoc23_strtoll|__isoc23_strtoul|__isoc23_strtoull|(json_|json_object_|json_tokener_|json_c_|array_list_|lh_).*|floor|ceil|round|fabs|fmod|pow|sqrt|log|exp|lround|llround|__builtin_.*)$'
bad=$(nm -u "$tmp" | awk '{print $2}' | sed 's/@.*//' | grep -Ev "$allow" || true)
# Mutable file-scope state would make replay depend on history outside the journal.
# Tables of const pointers live in .data.rel.ro (read-only after relocation): allowed.
data=$(objdump -t "$tmp" | awk '$NF != "" && ($4 ~ /^\.(data|bss)/) && $4 !~ /^\.data\.rel\.ro/ && $3 == "O" {print $NF}' || true)
rc=0
if [ -n "$bad" ]; then
	echo "fail purity/symbols: src/fsm needs symbols outside the allowlist: $(echo $bad)"
	rc=1
else
	echo "pass purity/symbols"
fi
if [ -n "$data" ]; then
	echo "fail purity/state: src/fsm has mutable global or static data: $(echo $data)"
	rc=1
else
	echo "pass purity/state"
fi
exit $rc
