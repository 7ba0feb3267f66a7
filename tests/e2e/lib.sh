# tests/e2e/lib.sh — what the API end-to-end suites share (api_node_test.sh,
# volumes_test.sh). Source it after setting SUITE (the name in "pass e2e/SUITE/...")
# and, for start_server, PY, SERVER and D. Not a suite: it has no _test suffix.

pass() { echo "pass e2e/$SUITE/$1"; }
nfail=0
fail() { echo "fail e2e/$SUITE/$1: $2"; nfail=$((nfail + 1)); }
ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
note() { echo "# $*"; }
# verdict <name>: pass, or fail with the reasons gathered in $why
verdict() { if [ -z "$why" ]; then pass "$1"; else fail "$1" "${why# }"; fi; }

# wait_until <seconds> <command...>
wait_until() {
	local end=$(($(ms) + $1 * 1000))
	shift
	while ! "$@"; do
		[ "$(ms)" -lt "$end" ] || return 1
		sleep 0.3
	done
}

stop_pid() { # stop_pid <pid> <signal>
	[ -n "$1" ] || return 0
	kill -"$2" "$1" 2>/dev/null
	local i
	for ((i = 0; i < 100; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# start_server [args...]: the API server on $D (its pid in $spid); waits until it listens
start_server() {
	local i
	mkdir -p "$D"
	: >"$D/stdout"
	# fd 7 (the runtime test lock) must not live on in the server
	$PY $SERVER --dir "$D" "$@" >"$D/stdout" 2>>"$D/stderr" 7>&- &
	spid=$!
	for ((i = 0; i < 600; i++)); do
		grep -q "^listening on https://127.0.0.1:" "$D/stdout" 2>/dev/null && return 0
		kill -0 $spid 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
