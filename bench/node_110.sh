#!/usr/bin/env bash
# bench/node_110.sh — ledgerlet with 110 running pods on the project's containerd.
#
# 110 static pods (busybox httpd, a readiness tcpSocket probe and a liveness
# httpGet probe every second each; thresholds tolerant enough that the start of
# 110 pods on two cores does not trip them) are started and left to settle; then, over a
# window of BENCH_WINDOW_S seconds (default 120) with nothing changing:
#   rss_110_pods_mib            ledgerlet's resident memory
#   idle_cpu_110_pods_pct       its CPU, percent of one core
#   journal_mib_per_hour_110_pods  journal growth, scaled to an hour
# then ledgerlet is killed with SIGKILL and started again:
#   restart_110_pods_s          until the runtime has been relisted and every
#                               pod re-confirmed (its sandbox and container seen)
#   restart_110_pods_container_restarts  containers whose id changed
# Prints only "bench <name> <value> <unit>" lines (progress goes to stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${BENCH_PODS:-110}
WINDOW=${BENCH_WINDOW_S:-120}
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

for i in $(seq 1 "$N"); do
	cat >"$M/p$i.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: p$i}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: $LEDGERLET_IMAGE_BUSYBOX
    command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/etc"]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1, timeoutSeconds: 5}
    livenessProbe: {httpGet: {path: /passwd, port: 8080}, periodSeconds: 1, timeoutSeconds: 5,
                    failureThreshold: 60}
EOF
done

start_ledgerlet() {
	build/ledgerlet --journal-dir "$J" --hostname-override bench \
		--pod-manifest-path "$M" --container-runtime-endpoint "$LEDGERLET_CRI_ENDPOINT" \
		>>"$tmp/ledgerlet.log" 2>&1 &
	pid=$!
}
ready_count() {
	build/journal-replay "$J" --status 2>/dev/null |
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

t0=$(date +%s.%N)
start_ledgerlet
say "starting $N pods"
for _ in $(seq 1 600); do
	[ "$(ready_count)" -ge "$N" ] && break
	sleep 1
done
[ "$(ready_count)" -ge "$N" ] || { say "only $(ready_count) of $N pods ready"; tail -n 20 "$tmp/ledgerlet.log" >&2; exit 1; }
say "all $N ready after $(calc "$(date +%s.%N) - $t0") s; settling"
sleep 20

# The idle window.
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
b0=$(log_bytes)
seq0=$(tip)
sleep "$WINDOW"
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
b1=$(log_bytes)
seq1=$(tip)
hz=$(getconf CLK_TCK)
rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "bench rss_110_pods_mib $(calc "$rss_kb / 1024") MiB"
echo "bench idle_cpu_110_pods_pct $(calc "100 * ($u1 + $s1 - $u0 - $s0) / $hz / $WINDOW") %"
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
