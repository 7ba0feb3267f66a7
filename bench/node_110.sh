#!/usr/bin/env bash
# bench/node_110.sh — ledgerlet with 110 running pods on the project's containerd.
#
# First 110 static pods (busybox httpd, no probes) are started and left to
# settle; over BENCH_IDLE_S seconds (default 60) with nothing changing:
#   rss_110_pods_mib            ledgerlet's resident memory (VmRSS)
#   rss_anon_110_pods_mib       of which anonymous (heap, stacks: ledgerlet's own;
#                               the rest is the shared libraries' pages)
#   idle_cpu_110_pods_pct       its CPU, percent of one core
# Then the manifests gain a readiness tcpSocket and a liveness httpGet probe every
# second each (thresholds tolerant enough that the start of 110 pods on two cores
# does not trip them; the pods are replaced), and over a window of BENCH_WINDOW_S
# seconds (default 120):
#   idle_cpu_110_probed_pods_pct  its CPU while running 220 probes a second
#   journal_mib_per_hour_110_pods journal growth, scaled to an hour
# then ledgerlet is killed with SIGKILL and started again:
#   restart_110_pods_s          until the runtime has been relisted and every
#                               pod re-confirmed (its sandbox and container seen)
#   restart_110_pods_container_restarts  containers whose id changed
# Prints only "bench <name> <value> <unit>" lines (progress goes to stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_PODS:-110}
WINDOW=${BENCH_WINDOW_S:-120}
IDLE=${BENCH_IDLE_S:-60}
say() { echo "node_110: $*" >&2; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }

scripts/runtime.sh start >&2
scripts/images.sh >&2
set -a
. <(scripts/runtime.sh env)
set +a
tmp=$(mktemp -d /var/tmp/ledgerlet-bench110.XXXXXX)
J=$tmp/journal
M=$tmp/manifests
mkdir -p "$M"
pid=""
cleanup() {
	rm -f "$M"/*.yaml
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		# let it stop and remove the pods, then stop it
		for _ in $(seq 1 240); do
			[ "$(ctr --address "$LEDGERLET_CONTAINERD_SOCK" -n k8s.io c ls -q 2>/dev/null | wc -l)" = 0 ] && break
			sleep 1
		done
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# write_manifests <probes: 0|1>
write_manifests() {
	local i probes=""
	[ "$1" = 1 ] && probes='
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1, timeoutSeconds: 5}
    livenessProbe: {httpGet: {path: /passwd, port: 8080}, periodSeconds: 1, timeoutSeconds: 5,
                    failureThreshold: 60}'
	for i in $(seq 1 "$N"); do
		cat >"$M/.p$i.tmp" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: p$i}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: $LEDGERLET_IMAGE_BUSYBOX
    command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/etc"]$probes
EOF
		mv "$M/.p$i.tmp" "$M/p$i.yaml"
	done
}

start_ledgerlet() {
	build/ledgerlet --journal-dir "$J" --hostname-override bench \
		--pod-manifest-path "$M" --container-runtime-endpoint "$LEDGERLET_CRI_ENDPOINT" \
		>>"$tmp/ledgerlet.log" 2>&1 &
	pid=$!
}
ready_count() { # Ready pods, not counting those whose uid is in $tmp/old_uids
	build/journal-replay "$J" --status 2>/dev/null | grep -v -F -f "$tmp/old_uids" |
		grep -c '"type":"Ready","status":"True"' || true
}
tip() { build/journal-replay "$J" --info 2>/dev/null | sed -n 's/^tip_seq //p'; }
log_bytes() {
	# pages of the log and snapshot databases, in bytes
	mdb_stat -a "$J" 2>/dev/null | awk '/Page size/ {ps=$3} /Branch pages|Leaf pages|Overflow pages/ {p+=$3} END {print p*ps}'
}
container_ids() {
	build/journal-replay "$J" --status 2>/dev/null | grep -o '"containerID":"[^"]*"' | sort
}

cpu_ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
hz=$(getconf CLK_TCK)
wait_ready() { # all N pods Ready, then settle
	local t0 i
	t0=$(date +%s.%N)
	for i in $(seq 1 600); do
		[ "$(ready_count)" -ge "$N" ] && break
		sleep 1
	done
	[ "$(ready_count)" -ge "$N" ] || { say "only $(ready_count) of $N pods ready"; tail -n 20 "$tmp/ledgerlet.log" >&2; exit 1; }
	say "all $N ready after $(calc "$(date +%s.%N) - $t0") s; settling"
	sleep 20
}

echo none >"$tmp/old_uids"
write_manifests 0
start_ledgerlet
say "starting $N pods without probes"
wait_ready
c0=$(cpu_ticks)
sleep "$IDLE"
c1=$(cpu_ticks)
echo "bench rss_110_pods_mib $(calc "$(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024") MiB"
echo "bench rss_anon_110_pods_mib $(calc "$(awk '/RssAnon/ {print $2}' /proc/$pid/status) / 1024") MiB"
echo "bench idle_cpu_110_pods_pct $(calc "100 * ($c1 - $c0) / $hz / $IDLE") %"

say "replacing the $N pods with probed ones"
build/journal-replay "$J" --status 2>/dev/null | grep -o '"uid":"[^"]*"' >"$tmp/old_uids"
write_manifests 1
wait_ready
c0=$(cpu_ticks)
b0=$(log_bytes)
seq0=$(tip)
sleep "$WINDOW"
c1=$(cpu_ticks)
b1=$(log_bytes)
seq1=$(tip)
echo "bench idle_cpu_110_probed_pods_pct $(calc "100 * ($c1 - $c0) / $hz / $WINDOW") %"
echo "bench rss_110_probed_pods_mib $(calc "$(awk '/VmRSS/ {print $2}' /proc/$pid/status) / 1024") MiB"
echo "bench journal_mib_per_hour_110_pods $(calc "($b1 - $b0) * 3600 / $WINDOW / 1048576") MiB/h"
say "window: $((seq1 - seq0)) events journaled in $WINDOW s"

# Restart after SIGKILL.
before=$(container_ids)
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
seq_before=$(tip)
t0=$(date +%s.%N)
start_ledgerlet
# Re-confirmed: the first relist journals each pod's sandbox and container.
for _ in $(seq 1 1200); do
	t=$(tip)
	[ -n "$t" ] && [ "$t" -ge $((seq_before + 2 * N)) ] && break
	sleep 0.05
done
t1=$(date +%s.%N)
echo "bench restart_110_pods_s $(calc "$t1 - $t0") s"
sleep 10
after=$(container_ids)
changed=$(comm -23 <(echo "$before") <(echo "$after") | wc -l)
echo "bench restart_110_pods_container_restarts $changed count"
