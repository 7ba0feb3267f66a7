#!/usr/bin/env bash
# bench/api_110.sh — 110 pods bound at once through the API server, against the same
# 110 pods as static manifests, on the project's containerd, in one run.
#
# The pods: busybox (sh -c "trap 'exit 0' TERM; sleep 3600 & wait", so that removal
# is quick), imagePullPolicy IfNotPresent, terminationGracePeriodSeconds 1, no probes,
# the pod network. Busybox and pause are pulled before, so neither phase downloads.
# Static first, then API, once each (each phase has its own ledgerlet, node name and
# journal, and starts on an empty one; one round each keeps the bench near 5 minutes
# on 2 cores, most of it the runtime starting and removing 220 pods; alternating
# rounds would double that):
#   static  a ledgerlet (node bench-static-PID, --pod-manifest-path M, --show-pods) is
#           started on an empty directory and left to settle; the 110 manifests are
#           written at once (each renamed into place) and timed until ledgerlet has
#           issued a status with phase Running for all 110 (its --show-pods lines,
#           stamped on arrival: the status it would send to an API server). Then the
#           manifests are removed, the runtime is waited for to have none of them,
#           and that ledgerlet is stopped.
#   api     the test API server (tests/apiserver/apiserver.py --port 0) and a ledgerlet
#           (node bench-api-PID, --kubeconfig DIR/kubeconfig, the admin's) are
#           started; once the Node is registered and Ready, a watch on the pods is
#           opened, the server's write counters are reset and the 110 pods
#           (spec.nodeName set) are POSTed in parallel by one curl (-Z); timed from
#           the first POST until the watch (events stamped on arrival) has shown all
#           110 with status.phase Running (a LIST then must agree). The server's
#           write counts at that moment, less the bench's own 110 POSTs, are
#           ledgerlet's writes.
# Neither observer polls ledgerlet or the server: both read a stream as it comes.
#   api_110_pods_vs_static  api_110_pods_s / static_110_pods_s
#   api_110_pods_s          seconds until the API shows all 110 Running
#   static_110_pods_s       seconds until ledgerlet reports all 110 Running
#   api_writes_per_pod      ledgerlet's writes to pods (PATCH pods/status and any
#                           other pod write) until all 110 were Running, per pod
#                           (target: at most 3)
#   api_events_per_pod      its event writes (POST and PATCH events) meanwhile, per
#                           pod (informative)
# The API pods are then deleted (one deletecollection, graceful), and the runtime
# waited for to have none of them; ledgerlets and server are stopped and the temporary
# directory (/var/tmp/ledgerlet-api110.*) removed, on failure too (pods left behind
# are removed with llt-cri remove-pods as a last resort). Only this run's pods are
# counted (their names carry the bench's PID), so other tests may use the runtime
# meanwhile (which shows in the figures: run it on a quiet machine). Holds the runtime
# test lock shared, as the end-to-end tests do.
# Prints only "bench <name> <value> <unit>" lines (progress, the write counts and
# the removal times go to stderr); with BENCH_KEEP=DIR the journals, logs, the
# server's access log and state are kept in DIR (build/journal-replay
# DIR/journal-api --timeline shows each pod's statuses).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_PODS:-110}
TIMEOUT_S=${BENCH_TIMEOUT_S:-180}
KEEP=${BENCH_KEEP:-}
PY=/usr/bin/python3
say() { echo "api_110: $*" >&2; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
now() { echo "$EPOCHREALTIME"; }
llt() { build/llt-cri "$@" 7>&-; }

for b in build/ledgerlet build/journal-replay build/llt-cri; do
	[ -x "$b" ] || { say "$b is not built (make all)"; exit 1; }
done
for c in curl jq openssl; do
	command -v $c >/dev/null || { say "$c is missing"; exit 1; }
done
set -a
. <(scripts/runtime.sh env)
set +a
# Hold the runtime test lock shared: nobody stops the runtime under us (fd 7 must not
# live on in what we start).
mkdir -p "$LEDGERLET_RUNTIME_RUN_DIR"
exec 7>"$LEDGERLET_RUNTIME_TEST_LOCK"
flock -s -w 300 7 || { say "$LEDGERLET_RUNTIME_TEST_LOCK still held exclusive after 300 s"; exit 1; }
scripts/runtime.sh start >&2 7>&-
scripts/images.sh >&2 7>&-
IMG=$LEDGERLET_IMAGE_BUSYBOX

tmp=$(mktemp -d /var/tmp/ledgerlet-api110.XXXXXX)
SNODE=bench-static-$$
ANODE=bench-api-$$
SP=a110s$$- # static pods: "<manifest name>-<node>", so "a110sPID-I-bench-static-PID"
AP=a110a$$- # API pods: "a110aPID-I"
LABEL=bench-api110-$$
M=$tmp/manifests
SJ=$tmp/journal-static
AJ=$tmp/journal-api
D=$tmp/server
mkdir -p "$M" "$D"
spid=""  # the static ledgerlet
apid=""  # the API ledgerlet
srvpid="" # the API server
wpid=""   # the bench's watch

gone() { [ -z "$(llt sandboxes --prefix "$1" 2>/dev/null)" ]; }
# wait_gone <prefix> <seconds>
wait_gone() {
	local end=$((EPOCHSECONDS + $2))
	until gone "$1"; do
		[ "$EPOCHSECONDS" -lt "$end" ] || return 1
		sleep 0.25
	done
}
# stop_pid <pid>: TERM, then KILL after 20 s
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || true
	local i
	for ((i = 0; i < 200; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
# api <METHOD> <PATH> [DATA]: as the admin; the body on stdout, fails on non-2xx
api() {
	local data=()
	[ $# -ge 3 ] && data=(--data-binary "$3" -H "Content-Type: application/json")
	curl -sSf --max-time 20 --cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key" \
		-X "$1" "${data[@]}" "https://127.0.0.1:$(cat "$D/port")$2" 7>&-
}
keep() {
	[ -n "$KEEP" ] || return 0
	mkdir -p "$KEEP"
	local j
	for j in "$SJ" "$AJ"; do
		[ -d "$j" ] || continue
		mkdir -p "$KEEP/${j##*/}"
		mdb_copy "$j" "$KEEP/${j##*/}" 2>/dev/null || cp -r "$j/." "$KEEP/${j##*/}/"
	done
	cp "$tmp"/*.log "$D/access.log" "$D/state.json" "$KEEP/" 2>/dev/null || true
	say "journals and logs kept in $KEEP"
}
cleanup() {
	set +e
	keep
	rm -f "$M"/*.yaml 2>/dev/null
	if [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null; then
		wait_gone "$SP" 120 || say "the static ledgerlet did not remove its pods in 120 s"
	fi
	stop_pid "$spid"
	spid=""
	if [ -n "$srvpid" ] && kill -0 "$srvpid" 2>/dev/null; then
		api DELETE "/api/v1/namespaces/default/pods?labelSelector=bench%3D$LABEL" >/dev/null 2>&1
		if [ -n "$apid" ] && kill -0 "$apid" 2>/dev/null; then
			wait_gone "$AP" 120 || say "the API ledgerlet did not remove its pods in 120 s"
		fi
	fi
	stop_pid "$apid"
	apid=""
	stop_pid "$wpid"
	wpid=""
	stop_pid "$srvpid"
	srvpid=""
	for p in "$SP" "$AP"; do
		gone "$p" && continue
		say "removing pods named $p* with llt-cri"
		llt remove-pods --prefix "$p" >/dev/null 2>&1 || llt remove-pods --prefix "$p" >/dev/null 2>&1
		gone "$p" || say "pods named $p* are left: llt-cri remove-pods --prefix $p"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

llt pull "$IMG" >/dev/null
llt pull "$LEDGERLET_IMAGE_PAUSE" >/dev/null

# The container, as YAML flow / JSON (the same text is both).
CONTAINER='{"name": "sleep", "image": "'$IMG'", "imagePullPolicy": "IfNotPresent", "command": ["/bin/sh", "-c", "trap '"'exit 0'"' TERM; sleep 3600 & wait"]}'

# ---- phase A: static ----
start_ledgerlet() { # <journal> <node> <log> <args...>; prints the pid
	local j=$1 node=$2 log=$3
	shift 3
	build/ledgerlet --journal-dir "$j" --hostname-override "$node" \
		--container-runtime-endpoint "$LEDGERLET_CRI_ENDPOINT" "$@" >"$log" 2>&1 7>&- &
	echo $!
}
# The static ledgerlet's output, each line stamped with its arrival time (--show-pods
# prints whole seconds): "<epoch> <pod> <phase> ..." / "<epoch> ledgerlet: ..."
stamp() { jq -R --unbuffered -r '"\(now) \(sub("^[0-9:.]+Z +"; ""))"' 2>/dev/null; }
# all_running <file> <prefix>: from lines "<epoch> <pod> <phase> ...", prints how many
# pods of <prefix> are Running at the end of the file (each pod's last line counts)
# and the time at which the N-th of them was first Running (nothing before)
all_running() {
	awk -v p="$2" -v n="$N" '
		index($2, p) == 1 {
			if ($3 == "Running" && !r[$2]) { r[$2] = 1; c++; if (c == n && at == "") at = $1 }
			else if ($3 != "Running" && r[$2]) { r[$2] = 0; c-- }
		}
		END { print c + 0, at }' "$1" 2>/dev/null || echo 0
}
tip() { build/journal-replay "$1" --info 2>/dev/null | sed -n 's/^tip_seq //p'; }

build/ledgerlet --journal-dir "$SJ" --hostname-override "$SNODE" \
	--container-runtime-endpoint "$LEDGERLET_CRI_ENDPOINT" --pod-manifest-path "$M" --show-pods \
	> >(exec 7>&-; stamp >"$tmp/static.log") 2>&1 7>&- &
spid=$!
for _ in $(seq 1 100); do
	[ -n "$(tip "$SJ")" ] && break
	kill -0 "$spid" 2>/dev/null || { say "the static ledgerlet exited"; tail -n 20 "$tmp/static.log" >&2; exit 1; }
	sleep 0.1
done
[ -n "$(tip "$SJ")" ] || { say "the static ledgerlet wrote no journal in 10 s"; tail -n 20 "$tmp/static.log" >&2; exit 1; }
sleep 2 # its first relist and the runtime's status
for i in $(seq 1 "$N"); do
	cat >"$M/.p$i.tmp" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $SP$i}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - $CONTAINER
EOF
done
say "static: writing $N manifests (node $SNODE)"
t0=$(now)
for i in $(seq 1 "$N"); do mv "$M/.p$i.tmp" "$M/p$i.yaml"; done
# ledgerlet --show-pods prints each pod's status as it issues it (the status it
# would send to an API server)
end=$((EPOCHSECONDS + TIMEOUT_S))
while :; do
	read -r running at < <(all_running "$tmp/static.log" "$SP")
	[ -n "$at" ] && break
	if [ "$EPOCHSECONDS" -ge "$end" ]; then
		say "static: only $running of $N pods Running after $TIMEOUT_S s"
		grep ' ledgerlet:' "$tmp/static.log" | tail -n 20 >&2
		exit 1
	fi
	sleep 0.25
done
static_s=$(calc "$at - $t0")
say "static: all $N Running after $static_s s"
t1=$(now)
rm -f "$M"/*.yaml
wait_gone "$SP" 120 || { say "static: ledgerlet did not remove its pods in 120 s"; tail -n 20 "$tmp/static.log" >&2; exit 1; }
say "static: all $N removed from the runtime after $(calc "$(now) - $t1") s"
stop_pid "$spid"
spid=""

# ---- phase B: the API server ----
$PY tests/apiserver/apiserver.py --dir "$D" --port 0 >"$D/stdout" 2>"$D/stderr" 7>&- &
srvpid=$!
for _ in $(seq 1 600); do
	grep -q "^listening on https://127.0.0.1:" "$D/stdout" 2>/dev/null && break
	kill -0 "$srvpid" 2>/dev/null || break
	sleep 0.05
done
grep -q "^listening on https://127.0.0.1:" "$D/stdout" 2>/dev/null ||
	{ say "the API server did not start"; tail -n 10 "$D/stderr" >&2; exit 1; }
say "api: server on port $(cat "$D/port")"
start_ledgerlet "$AJ" "$ANODE" "$tmp/api.log" --kubeconfig "$D/kubeconfig" >"$tmp/pid"
apid=$(cat "$tmp/pid")
node_ready() {
	api GET "/api/v1/nodes/$ANODE" 2>/dev/null |
		jq -e '.status.conditions[]? | select(.type == "Ready") | .status == "True"' >/dev/null 2>&1
}
end=$((EPOCHSECONDS + 60))
until node_ready; do
	kill -0 "$apid" 2>/dev/null || { say "the API ledgerlet exited"; tail -n 20 "$tmp/api.log" >&2; exit 1; }
	[ "$EPOCHSECONDS" -lt "$end" ] || { say "api: node $ANODE not registered and Ready in 60 s"; tail -n 20 "$tmp/api.log" >&2; exit 1; }
	sleep 0.25
done
sleep 2 # its first writes (lease, node status) done
say "api: node $ANODE Ready; creating $N pods"

# one curl, the POSTs in parallel (each transfer's own options after "next")
port=$(cat "$D/port")
: >"$tmp/post.cfg"
for i in $(seq 1 "$N"); do
	cat >"$tmp/pod$i.json" <<EOF
{"apiVersion": "v1", "kind": "Pod",
 "metadata": {"name": "$AP$i", "namespace": "default", "labels": {"bench": "$LABEL"}},
 "spec": {"nodeName": "$ANODE", "terminationGracePeriodSeconds": 1,
  "containers": [$CONTAINER]}}
EOF
	cat >>"$tmp/post.cfg" <<EOF
url = "https://127.0.0.1:$port/api/v1/namespaces/default/pods"
cacert = "$D/ca.crt"
cert = "$D/admin.crt"
key = "$D/admin.key"
header = "Content-Type: application/json"
data-binary = "@$tmp/pod$i.json"
output = "/dev/null"
write-out = "%{http_code}\n"
max-time = 60
EOF
	[ "$i" -lt "$N" ] && echo next >>"$tmp/post.cfg"
done
# the API's view: a watch of our pods, each event stamped with its arrival time
: >"$tmp/watch.txt"
curl -sS -N --max-time $((TIMEOUT_S + 120)) --cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key" \
	"https://127.0.0.1:$port/api/v1/namespaces/default/pods?watch=1&labelSelector=bench%3D$LABEL" 2>"$tmp/watch.err" 7>&- \
	> >(exec 7>&-; jq --unbuffered -r '"\(now) \(.object.metadata.name) \(.object.status.phase)"' >"$tmp/watch.txt" 2>/dev/null) &
wpid=$!
for _ in $(seq 1 100); do
	[ "$(api GET /_test/info | jq '.watches | length')" -ge 1 ] && break
	sleep 0.1
done
api POST /_test/reset-counters "" >/dev/null
t0=$(now)
curl -sS -Z --parallel-max 16 -K "$tmp/post.cfg" >"$tmp/post.codes" 2>"$tmp/post.err" 7>&- || true
tp=$(now)
created=$(grep -c '^201$' "$tmp/post.codes" || true)
say "api: $created of $N POSTs answered 201 in $(calc "$tp - $t0") s"
[ "$created" = "$N" ] || { say "api: POST codes: $(sort "$tmp/post.codes" | uniq -c | tr '\n' ' ')"; head -n 5 "$tmp/post.err" >&2; exit 1; }
end=$((EPOCHSECONDS + TIMEOUT_S))
while :; do
	read -r running at < <(all_running "$tmp/watch.txt" "$AP")
	[ -n "$at" ] && break
	if [ "$EPOCHSECONDS" -ge "$end" ]; then
		say "api: only $running of $N pods Running after $TIMEOUT_S s"
		tail -n 20 "$tmp/api.log" >&2
		exit 1
	fi
	sleep 0.25
done
writes=$(api GET /_test/writes)
api_s=$(calc "$at - $t0")
# a LIST agrees
listed=$(api GET "/api/v1/namespaces/default/pods?labelSelector=bench%3D$LABEL" |
	jq '[.items[] | select(.status.phase == "Running")] | length')
say "api: all $N Running after $api_s s (a LIST then: $listed Running)"
[ "$listed" -ge "$N" ] || { say "api: the watch and a LIST disagree"; exit 1; }
# ledgerlet's writes to pods: every pod write (pods, pods/status, ...) less our POSTs
pod_writes=$(jq --argjson n "$N" '[.counts | to_entries[] | select(.key | test("^[A-Z]+ pods(/|$)")) | .value] | add // 0 | . - $n' <<<"$writes")
event_writes=$(jq '[.counts | to_entries[] | select(.key | test("^(POST|PATCH) events$")) | .value] | add // 0' <<<"$writes")
say "api: writes until all Running: $(jq -c .counts <<<"$writes")"
sleep 5
say "api: 5 s later: $(api GET /_test/writes | jq -c .counts)"

echo "bench api_110_pods_vs_static $(calc "$api_s / $static_s") x"
echo "bench api_110_pods_s $api_s s"
echo "bench static_110_pods_s $static_s s"
echo "bench api_writes_per_pod $(calc "$pod_writes / $N") count"
echo "bench api_events_per_pod $(calc "$event_writes / $N") count"

# ---- the API pods go ----
t1=$(now)
api DELETE "/api/v1/namespaces/default/pods?labelSelector=bench%3D$LABEL" >/dev/null
wait_gone "$AP" 120 || { say "api: ledgerlet did not remove its pods in 120 s"; tail -n 20 "$tmp/api.log" >&2; exit 1; }
say "api: all $N removed from the runtime after $(calc "$(now) - $t1") s"
end=$((EPOCHSECONDS + 30))
while [ "$(api GET "/api/v1/namespaces/default/pods?labelSelector=bench%3D$LABEL" 2>/dev/null | jq '.items | length')" != 0 ]; do
	[ "$EPOCHSECONDS" -lt "$end" ] || { say "api: pods still in the API 30 s after leaving the runtime"; break; }
	sleep 0.25
done
