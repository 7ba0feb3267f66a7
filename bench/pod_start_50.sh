#!/usr/bin/env bash
# bench/pod_start_50.sh — how long ledgerlet takes to start 50 pods, against the same
# CRI calls made bare.
#
#   ledgerlet  50 static pod manifests (one container each: busybox /bin/sleep 3600,
#              terminationGracePeriodSeconds 1, the pod network) are written into a
#              fresh directory and ledgerlet is started on an empty journal; timed
#              from its start until the runtime shows all 50 containers running.
#   bare       build/llt-cri start-pods 50 with the same pods: the CRI calls
#              ledgerlet's executor makes for them with requests of the same shape
#              (RunPodSandbox, PullImage by the fold's rule, CreateContainer,
#              StartContainer; see tools/llt-cri.c) at ledgerlet's concurrency (its
#              default: FX_EXEC_CALLS_MAX calls in flight, so every pod at once);
#              timed from its start until the runtime shows all 50 running.
# The observer is the same for both: `llt-cri containers --prefix P`, every ~50 ms.
# Images: busybox and pause are pulled once before (so neither side downloads);
# both sides still make the PullImage calls ledgerlet makes on an empty journal
# (its fold learns an image only from a pull's answer), which containerd answers
# from its store after asking the registry for the manifest.
# Network: both sides use the pod network (the CNI bridge), which is what the
# manifests produce; BENCH_HOST_NETWORK=1 puts both on the host network.
# The sides alternate, BENCH_ROUNDS (3) times each, cleaning up in between
# (ledgerlet: the manifests are removed, it removes its pods, then it is stopped;
# bare: llt-cri remove-pods); no pod of ours is left at the end, even on failure.
# Prints one line, "bench pod_start_50_vs_bare_cri <median(ledgerlet)/median(bare)> x";
# progress, each run's time and llt-cri's per-call times go to stderr. With
# BENCH_KEEP=DIR the ledgerlet runs' journals and logs are kept in DIR
# (build/journal-replay DIR/journal.1 --timeline shows each pod's steps).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_PODS:-50}
ROUNDS=${BENCH_ROUNDS:-3}
HOSTNET=${BENCH_HOST_NETWORK:-0}
TIMEOUT_S=${BENCH_TIMEOUT_S:-300}
KEEP=${BENCH_KEEP:-}
say() { echo "pod_start_50: $*" >&2; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
now() { echo "$EPOCHREALTIME"; }
llt() { build/llt-cri "$@" 7>&-; }

for b in build/ledgerlet build/llt-cri build/journal-replay; do
	[ -x "$b" ] || { say "$b is not built (make all)"; exit 1; }
done
set -a
. <(scripts/runtime.sh env)
set +a
# Hold the runtime test lock shared, as the end-to-end tests do: nobody stops the
# runtime under us (fd 7 must not live on in what we start).
mkdir -p "$LEDGERLET_RUNTIME_RUN_DIR"
exec 7>"$LEDGERLET_RUNTIME_TEST_LOCK"
flock -s -w 300 7 || { say "$LEDGERLET_RUNTIME_TEST_LOCK still held exclusive after 300 s"; exit 1; }
scripts/runtime.sh start >&2 7>&-
scripts/images.sh >&2 7>&-
IMG=$LEDGERLET_IMAGE_BUSYBOX

tmp=$(mktemp -d /var/tmp/ledgerlet-podstart50.XXXXXX)
J=$tmp/journal
M=$tmp/manifests
# Pod names: ledgerlet's are "<manifest name>-bench"; both prefixes are this run's own.
LP=ps50l$$-
BP=ps50b$$-
NET_FLAG=()
HOSTNET_YAML=""
if [ "$HOSTNET" = 1 ]; then
	NET_FLAG=(--host-network)
	HOSTNET_YAML="  hostNetwork: true"
fi
lpid=""
bpid=""

gone() { [ -z "$(llt sandboxes --prefix "$1" 2>/dev/null)" ]; }
# wait_gone <prefix> <seconds>
wait_gone() {
	local end=$((${EPOCHSECONDS} + $2))
	until gone "$1"; do
		[ "$EPOCHSECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}
stop_ledgerlet() {
	[ -n "$lpid" ] || return 0
	kill -TERM "$lpid" 2>/dev/null || true
	wait "$lpid" 2>/dev/null || true
	lpid=""
}
cleanup() {
	set +e
	rm -f "$M"/*.yaml 2>/dev/null
	if [ -n "$lpid" ] && kill -0 "$lpid" 2>/dev/null; then
		# let it stop and remove its pods, then stop it
		wait_gone "$LP" 60
		stop_ledgerlet
	fi
	if [ -n "$bpid" ]; then
		kill "$bpid" 2>/dev/null
		wait "$bpid" 2>/dev/null
	fi
	llt remove-pods --prefix "$LP" 2>/dev/null
	llt remove-pods --prefix "$BP" 2>/dev/null
	gone "$LP" && gone "$BP" || say "pods named $LP* or $BP* are left: llt-cri remove-pods --prefix ..."
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Both sides start from an image that is present: nothing is downloaded.
llt pull "$IMG" >/dev/null
llt pull "$LEDGERLET_IMAGE_PAUSE" >/dev/null

# pods (sandbox ids) of prefix $1 with a running container: a second container of a
# pod does not count twice
running() { llt containers --prefix "$1" | awk '$2 == "CONTAINER_RUNNING" { print $3 }' | sort -u | wc -l; }
# wait_running <prefix> <t0>: prints the seconds from t0 until N pods have a running container
wait_running() {
	local n end=$((${EPOCHSECONDS} + TIMEOUT_S))
	while :; do
		n=$(running "$1")
		[ "$n" -ge "$N" ] && break
		if [ "$EPOCHSECONDS" -ge "$end" ]; then
			say "only $n of $N containers of $1* running after $TIMEOUT_S s"
			return 1
		fi
		sleep 0.05
	done
	calc "$(now) - $2"
}

manifests() {
	rm -rf "$M"
	mkdir -p "$M"
	local i
	for i in $(seq 1 "$N"); do
		cat >"$M/p$i.yaml" <<-EOF
			apiVersion: v1
			kind: Pod
			metadata: {name: $LP$i}
			spec:
			  terminationGracePeriodSeconds: 1
			$HOSTNET_YAML
			  containers:
			  - name: sleep
			    image: $IMG
			    command: ["/bin/sleep", "3600"]
		EOF
	done
}

# A failed ledgerlet run's journal and log are kept for journal-replay (the trap
# removes $tmp).
keep_failed() {
	local d
	d=$(mktemp -d /var/tmp/ledgerlet-podstart50-failed.XXXXXX)
	# a consistent copy while ledgerlet still writes
	mkdir -p "$d/journal"
	mdb_copy "$J" "$d/journal" 2>/dev/null || cp -r "$J/." "$d/journal/"
	cp "$tmp/ledgerlet.log" "$d/" 2>/dev/null
	say "kept the journal and log of the failed run in $d"
}

# run_ledgerlet <round>: sets t to the seconds (not in a subshell: the trap must know
# lpid)
run_ledgerlet() {
	rm -rf "$J"
	manifests
	local t0
	t0=$(now)
	build/ledgerlet --journal-dir "$J" --hostname-override bench --pod-manifest-path "$M" \
		--container-runtime-endpoint "$LEDGERLET_CRI_ENDPOINT" >"$tmp/ledgerlet.log" 2>&1 7>&- &
	lpid=$!
	if ! t=$(wait_running "$LP" "$t0"); then
		tail -n 20 "$tmp/ledgerlet.log" >&2
		keep_failed
		return 1
	fi
	# cleanup: the manifests go, ledgerlet removes the pods, then it stops
	rm -f "$M"/*.yaml
	if ! wait_gone "$LP" 120; then
		say "ledgerlet did not remove its pods in 120 s"
		tail -n 20 "$tmp/ledgerlet.log" >&2
		keep_failed
		return 1
	fi
	stop_ledgerlet
	if [ -n "$KEEP" ]; then
		mkdir -p "$KEEP"
		rm -rf "$KEEP/journal.$1"
		cp -r "$J" "$KEEP/journal.$1"
		cp "$tmp/ledgerlet.log" "$KEEP/ledgerlet.$1.log"
	fi
}

# run_bare <round>: sets t to the seconds
run_bare() {
	local t0 rc=0
	t0=$(now)
	build/llt-cri start-pods "$N" --prefix "$BP" --image "$IMG" --container-name sleep \
		--command "/bin/sleep 3600" "${NET_FLAG[@]}" >"$tmp/bare.out" 2>"$tmp/bare.err" 7>&- &
	bpid=$!
	if ! t=$(wait_running "$BP" "$t0"); then
		cat "$tmp/bare.err" >&2
		return 1
	fi
	wait "$bpid" || rc=$?
	bpid=""
	sed 's/^/  /' "$tmp/bare.err" >&2
	[ "$rc" = 0 ] || { say "llt-cri start-pods failed"; return 1; }
	# a second try for what a loaded runtime refused the first time
	if ! llt remove-pods --prefix "$BP" 2>"$tmp/remove.err" &&
		! llt remove-pods --prefix "$BP" 2>>"$tmp/remove.err"; then
		sed 's/^/  /' "$tmp/remove.err" >&2
		say "llt-cri remove-pods failed twice"
		return 1
	fi
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

net=pod
[ "$HOSTNET" = 1 ] && net=host
say "$N pods, $net network, $ROUNDS rounds each side"
lt=()
bt=()
for r in $(seq 1 "$ROUNDS"); do
	# alternate which side goes first, so that neither always follows the other
	if [ $((r % 2)) = 1 ]; then order="ledgerlet bare"; else order="bare ledgerlet"; fi
	for side in $order; do
		sleep 2 # let the last teardown settle
		t=""
		if [ "$side" = ledgerlet ]; then
			run_ledgerlet "$r" || exit 1
			lt+=("$t")
		else
			run_bare "$r" || exit 1
			bt+=("$t")
		fi
		say "round $r $side: $t s"
	done
done
ml=$(printf '%s\n' "${lt[@]}" | median)
mb=$(printf '%s\n' "${bt[@]}" | median)
say "ledgerlet ${lt[*]} s (median $ml), bare ${bt[*]} s (median $mb)"
echo "bench pod_start_50_vs_bare_cri $(calc "$ml / $mb") x"
