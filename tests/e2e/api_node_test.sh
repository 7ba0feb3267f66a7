#!/usr/bin/env bash
# ledgerlet joined to an API server (--kubeconfig) is a kubelet, end to end: the real
# containerd of scripts/runtime.sh, the test API server (tests/apiserver/apiserver.py)
# and the real kubectl, which must show what ledgerlet reported.
#
# 1. node_registers: the Node is Ready in `kubectl get nodes -o wide` with its kubelet
#    version and container runtime, `kubectl describe node` works, its Lease exists
#    and is renewed.
# 2. pod_runs_and_is_ready: a pod applied with kubectl runs: phase Running, Ready, its
#    container running and ready with restartCount 0, containerID, imageID, podIP;
#    one sandbox and one container in the runtime; Pulled, Created, Started events.
# 3. pod_delete_removes_it: kubectl delete: gone from the API and from the runtime.
# 4. static_pod_has_mirror: a static pod has its mirror pod (config.mirror annotation,
#    Running); a mirror pod deleted with kubectl (gracefully: the server sets its
#    deletionTimestamp, and the kubelet deletes it with grace 0 and makes it again) is
#    made again (new uid) while the static pod runs on unrestarted; if it is not, a
#    forced delete is tried to go on; a removed manifest takes the mirror pod and the
#    containers away.
# 5. noexecute_taint_rejects: a second ledgerlet registered with a NoExecute taint
#    fails a pod that does not tolerate it (TaintToleration) and runs one that does.
# 6. api_faults_lose_nothing: pods created while the API server is killed -9 and
#    restarted, watches are cut, a 410 is forced, 500s and 429s (Retry-After) are
#    injected and the server is slow: all end Running, each with one sandbox and one
#    container, the writes stay bounded, and the pod source backs off.
# 8. runtime_down_makes_node_not_ready: a ledgerlet whose runtime socket answers
#    nothing registers its node, which turns NotReady with the kubelet's reason and
#    message ("container runtime is down") once the CRI Status call has failed for 30 s.
# 7. kill9_with_30_pods: 30 Ready pods; a kill -9 of ledgerlet and its restart,
#    watched about once a second through the API: no container restarted, the Lease
#    never lapsed, no pod went NotReady.
# Everything made is deleted through the API at the end (and ledgerlet removes it from
# the runtime), also on failure.
# Prints "pass e2e/api/NAME" / "fail e2e/api/NAME: why" lines; "# ..." lines are
# timings and notes. Needs root. Holds the runtime test lock shared; leaves the
# runtime running.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
bin=build/ledgerlet
cri=build/llt-cri
PY=/usr/bin/python3
SERVER=tests/apiserver/apiserver.py
tmp=$(mktemp -d /tmp/ledgerlet-api-e2e.XXXXXX)
D=$tmp/server
J=$tmp/journal
J2=$tmp/journal2
M=$tmp/manifests
LOG=$tmp/ledgerlet.log
LOG2=$tmp/ledgerlet2.log
J3=$tmp/journal3
LOG3=$tmp/ledgerlet3.log
NODE3=e2e-api-noruntime
l3pid=
NODE=e2e-api
NODE2=e2e-api-taint
PFX=apit- # every pod's name starts with it (llt-cri --prefix)
lpid=
l2pid=
spid=
ppid_=

SUITE=api
. tests/e2e/lib.sh

ALL_TESTS="node_registers pod_runs_and_is_ready pod_delete_removes_it static_pod_has_mirror
noexecute_taint_rejects api_faults_lose_nothing kill9_with_30_pods runtime_down_makes_node_not_ready"

# ---- the processes ----
start_ll() {
	$bin --journal-dir "$J" --hostname-override "$NODE" --pod-manifest-path "$M" \
		--container-runtime-endpoint "$LEDGERLET_CRI_ENDPOINT" --kubeconfig "$D/kubeconfig" \
		>>"$LOG" 2>&1 7>&- &
	lpid=$!
}
start_ll2() {
	$bin --journal-dir "$J2" --hostname-override "$NODE2" --register-with-taints dedicated=x:NoExecute \
		--container-runtime-endpoint "$LEDGERLET_CRI_ENDPOINT" --kubeconfig "$D/kubeconfig" \
		>>"$LOG2" 2>&1 7>&- &
	l2pid=$!
}
# a node whose runtime is not there
start_ll3() {
	$bin --journal-dir "$J3" --hostname-override "$NODE3" \
		--container-runtime-endpoint "unix://$tmp/no-runtime.sock" --kubeconfig "$D/kubeconfig" \
		>>"$LOG3" 2>&1 7>&- &
	l3pid=$!
}

# ---- the API's view ----
kc() {
	kubectl --kubeconfig "$D/kubeconfig" --cache-dir "$tmp/kcache" --request-timeout=20s "$@" 2>&1
}
# kj <args>: kubectl output only (JSON), no stderr
kj() { kubectl --kubeconfig "$D/kubeconfig" --cache-dir "$tmp/kcache" --request-timeout=20s "$@" 2>/dev/null; }
# req <METHOD> <PATH> [DATA]: as the admin, with curl; sets $code and $body
req() {
	local data=()
	[ $# -ge 3 ] && data=(--data-binary "$3" -H "Content-Type: application/json")
	code=$(curl -sS -o "$tmp/body" -w '%{http_code}' --max-time 20 \
		--cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key" \
		-X "$1" "${data[@]}" "https://127.0.0.1:$(cat "$D/port")$2" 2>"$tmp/curl.err")
	body=$(cat "$tmp/body" 2>/dev/null)
}
# pj <pod> <jq filter>: on the pod as the API has it now
pj() { kj get pod "$1" -o json | jq -r "$2" 2>/dev/null; }
pod_phase() { pj "$1" '.status.phase // ""'; }
pod_ready() { [ "$(pj "$1" '.status.conditions[]? | select(.type == "Ready") | .status')" = True ]; }
running_ready() { [ "$(pod_phase "$1")" = Running ] && pod_ready "$1"; }
not_found() { local o; o=$(kc get pod "$1" -o name); grep -q '(NotFound)' <<<"$o"; }
pod_summary() {
	pj "$1" '"phase=\(.status.phase) \([.status.conditions[]? | "\(.type)=\(.status)"] | join(",")) \([.status.containerStatuses[]? | "\(.name):\(.state | keys[0]) ready=\(.ready) restarts=\(.restartCount)"] | join(" ")) reason=\(.status.reason // "")"'
}

# ---- the runtime's view (CRI lists) ----
# cri_snap: $tmp/sb (<id> <state> <ns>/<name> <uid> attempt=<n>), $tmp/ct (<id> <state>
# <sandbox> <name> attempt=<n> <uid>) of our pods
cri_snap() {
	"$cri" sandboxes --prefix "$PFX" >"$tmp/sb" 2>"$tmp/cri.err" &&
		"$cri" containers --prefix "$PFX" >"$tmp/ct" 2>>"$tmp/cri.err"
}
n_sb() { awk -v u="$1" '$4 == u' "$tmp/sb" | grep -c .; }
n_ct() { awk -v u="$1" '$6 == u' "$tmp/ct" | grep -c .; }
n_running_ct() { awk -v u="$1" '$6 == u && $2 == "CONTAINER_RUNNING"' "$tmp/ct" | grep -c .; }
ct_ids() { awk -v u="$1" '$6 == u { print $1 }' "$tmp/ct"; }
none_of() { cri_snap && [ "$(n_sb "$1")" = 0 ] && [ "$(n_ct "$1")" = 0 ]; }
nothing_of_ours() { cri_snap && [ ! -s "$tmp/sb" ] && [ ! -s "$tmp/ct" ]; }

cleanup() {
	[ -z "$ppid_" ] || stop_pid "$ppid_" TERM
	if [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null; then
		req POST /_test/fail '{"count":0}'
		req POST /_test/delay '{"count":0}'
		kj delete pods --all --wait=false >/dev/null
	fi
	rm -f "$M"/* 2>/dev/null
	# the ledgerlets remove what they ran
	if [ -n "$lpid$l2pid" ] && ! wait_until 60 nothing_of_ours; then
		note "after 60 s the runtime still has: $(cat "$tmp/sb" "$tmp/ct" 2>/dev/null | awk '{ print $1 }' | cut -c1-12 | tr '\n' ' ')"
		"$cri" remove-pods --prefix "$PFX" >/dev/null 2>&1
	fi
	stop_pid "$lpid" TERM
	stop_pid "$l2pid" TERM
	stop_pid "$l3pid" TERM
	stop_pid "$spid" TERM
	if [ $nfail -ne 0 ]; then
		tail -n 40 "$LOG" 2>/dev/null | sed 's/^/#   ledgerlet | /'
		tail -n 15 "$LOG2" 2>/dev/null | sed 's/^/#   ledgerlet2 | /'
		tail -n 15 "$D/stderr" 2>/dev/null | sed 's/^/#   apiserver | /'
	fi
	[ -z "${LEDGERLET_E2E_KEEP_LOG:-}" ] || cp "$LOG" "$LEDGERLET_E2E_KEEP_LOG"
	[ -z "${LEDGERLET_E2E_KEEP_JOURNAL:-}" ] || cp -a "$J" "$LEDGERLET_E2E_KEEP_JOURNAL"
	[ -z "${LEDGERLET_E2E_KEEP_DIR:-}" ] || cp -a "$tmp" "$LEDGERLET_E2E_KEEP_DIR"
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- setup ----
if [ "$(id -u)" != 0 ]; then
	fail setup "needs root (containerd, runc, mounts, network)"
	exit 0
fi
missing=""
for c in curl jq kubectl; do command -v $c >/dev/null || missing+=" $c"; done
[ -x $PY ] || missing+=" $PY"
[ -x "$bin" ] && [ -x "$cri" ] || missing+=" $bin or $cri (make)"
if [ -n "$missing" ]; then
	for n in $ALL_TESTS; do fail "$n" "missing:$missing"; done
	exit 1
fi
eval "$(scripts/runtime.sh env | sed 's/^/export /')"
mkdir -p "$LEDGERLET_RUNTIME_RUN_DIR"
exec 7>"$LEDGERLET_RUNTIME_TEST_LOCK"
if ! flock -s -w 300 7; then
	fail setup "$LEDGERLET_RUNTIME_TEST_LOCK still held exclusive after 300 s"
	exit 0
fi
t0=$(ms)
if ! out=$(timeout 120 scripts/runtime.sh start 2>&1 7>&- && timeout 180 scripts/images.sh 2>&1 7>&-); then
	for n in $ALL_TESTS; do
		fail $n "the runtime did not start: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
	done
	exit 1
fi
note "runtime and images ready $(($(ms) - t0)) ms"
if ! start_server --port 0; then
	for n in $ALL_TESTS; do fail "$n" "the API server did not start: $(tail -n 3 "$D/stderr" | tr '\n' ' ')"; done
	exit 1
fi
PORT=$(cat "$D/port")
note "API server on port $PORT"
mkdir -p "$M"
IMG=$LEDGERLET_IMAGE_BUSYBOX
LOOP="trap 'exit 0' TERM; while true; do sleep 1; done"

t=$(ms)
start_ll

# ---- 1. the node registers, is Ready, and renews its Lease ----
why=""
node_ready() {
	[ "$(kj get node "$NODE" -o json | jq -r '.status.conditions[]? | select(.type == "Ready") | .status')" = True ]
}
if ! wait_until 30 node_ready; then
	why+=" node $NODE not Ready after 30 s: $(kc get node "$NODE" -o wide | tr '\n' ' ');"
else
	note "node Ready $(($(ms) - t)) ms after the start"
	wide=$(kc get nodes -o wide)
	row=$(awk -v n="$NODE" '$1 == n' <<<"$wide")
	note "kubectl get nodes -o wide: $row"
	ver=$(kj get node "$NODE" -o json | jq -r '.status.nodeInfo.kubeletVersion // ""')
	rt=$(kj get node "$NODE" -o json | jq -r '.status.nodeInfo.containerRuntimeVersion // ""')
	[ "$(awk '{ print $2 }' <<<"$row")" = Ready ] || why+=" get nodes -o wide: status not Ready: '$row';"
	[ -n "$ver" ] && grep -qF " $ver " <<<"$row " || why+=" kubeletVersion '$ver' not in the row '$row';"
	[[ "$rt" == containerd://* ]] && grep -qF "$rt" <<<"$row" || why+=" containerRuntimeVersion '$rt' not in the row '$row';"
	hn=$(kj get node "$NODE" -o json | jq -r '.metadata.labels["kubernetes.io/hostname"] // ""')
	[ "$hn" = "$NODE" ] || why+=" label kubernetes.io/hostname '$hn';"
	alloc=$(kj get node "$NODE" -o json | jq -r '"\(.status.capacity.cpu // "") \(.status.allocatable.pods // "")"')
	[[ "$alloc" =~ ^[0-9]+\ [0-9]+$ ]] || why+=" capacity.cpu / allocatable.pods: '$alloc';"
	desc=$(kc describe node "$NODE")
	grep -qE "^Name: +$NODE\$" <<<"$desc" && grep -q '^Conditions:' <<<"$desc" ||
		why+=" kubectl describe node: $(head -c 300 <<<"$desc" | tr '\n' ' ');"
fi
lease_renew() { kj get lease -n kube-node-lease "$NODE" -o json | jq -r '.spec.renewTime // ""'; }
wait_until 15 eval '[ -n "$(lease_renew)" ]'
lease0=$(lease_renew)
lease0_ms=$(ms)
lease_json=$(kj get lease -n kube-node-lease "$NODE" -o json)
[ -n "$lease0" ] || why+=" no Lease kube-node-lease/$NODE: $(kc get lease -n kube-node-lease "$NODE" | tr '\n' ' ');"
[ "$(jq -r '.spec.holderIdentity' <<<"$lease_json")" = "$NODE" ] &&
	[ "$(jq -r '.spec.leaseDurationSeconds' <<<"$lease_json")" = 40 ] ||
	why+=" lease spec: $(jq -c .spec <<<"$lease_json");"
why1=$why # the verdict after test 2: the Lease must have been renewed by then

# ---- 2. a pod applied with kubectl runs and is Ready ----
why=""
t=$(ms)
out=$(kc apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: ${PFX}web
  labels: {app: ${PFX}web}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 2
  containers:
  - name: httpd
    image: $IMG
    command: ["/bin/sh", "-c", "echo ok > /tmp/index.html; exec /bin/httpd -f -p 8080 -h /tmp"]
    ports:
    - containerPort: 8080
    readinessProbe:
      exec: {command: ["/bin/test", "-f", "/tmp/index.html"]}
      periodSeconds: 1
      timeoutSeconds: 3
EOF
)
grep -q "pod/${PFX}web created" <<<"$out" || why+=" kubectl apply: $out;"
web_ok=0
if ! wait_until 90 running_ready ${PFX}web; then
	why+=" not Running and Ready after 90 s: $(pod_summary ${PFX}web);"
else
	web_ok=1
	note "web Running and Ready $(($(ms) - t)) ms after kubectl apply"
	pod=$(kj get pod ${PFX}web -o json)
	webuid=$(jq -r .metadata.uid <<<"$pod")
	cs=$(jq -c '.status.containerStatuses[0]' <<<"$pod")
	[ "$(jq -r '.state | keys[0]' <<<"$cs")" = running ] || why+=" container state: $cs;"
	[ "$(jq -r .ready <<<"$cs")" = true ] || why+=" container not ready: $cs;"
	[ "$(jq -r .restartCount <<<"$cs")" = 0 ] || why+=" restartCount: $cs;"
	cid=$(jq -r '.containerID // ""' <<<"$cs")
	[[ "$cid" == containerd://?* ]] || why+=" containerID '$cid';"
	[ -n "$(jq -r '.imageID // ""' <<<"$cs")" ] || why+=" no imageID: $cs;"
	ip=$(jq -r '.status.podIP // ""' <<<"$pod")
	net=${LEDGERLET_POD_SUBNET%.*/*}
	[[ "$ip" == "$net".* ]] || why+=" podIP '$ip' not on $LEDGERLET_POD_SUBNET;"
	[ "$(jq -r '.status.podIPs[0].ip // ""' <<<"$pod")" = "$ip" ] || why+=" podIPs: $(jq -c .status.podIPs <<<"$pod");"
	[ -n "$(jq -r '.status.startTime // ""' <<<"$pod")" ] || why+=" no startTime;"
	[ -n "$(jq -r '.status.hostIP // ""' <<<"$pod")" ] || why+=" no hostIP;"
	row=$(kc get pod ${PFX}web --no-headers)
	[ "$(awk '{ print $2, $3, $4 }' <<<"$row")" = "1/1 Running 0" ] || why+=" kubectl get pod: '$row';"
	if cri_snap; then
		[ "$(n_sb "$webuid")" = 1 ] || why+=" $(n_sb "$webuid") sandboxes in the runtime;"
		[ "$(n_ct "$webuid")" = 1 ] || why+=" $(n_ct "$webuid") containers in the runtime;"
		[ "containerd://$(ct_ids "$webuid")" = "$cid" ] || why+=" the runtime's container '$(ct_ids "$webuid")' is not $cid;"
	else
		why+=" llt-cri: $(head -c 200 "$tmp/cri.err");"
	fi
	has_events() {
		reasons=$(kj get events -o json | jq -r --arg n ${PFX}web \
			'[.items[] | select(.involvedObject.name == $n) | .reason] | unique | join(" ")')
		for r in Pulled Created Started; do grep -qw $r <<<"$reasons" || return 1; done
	}
	wait_until 10 has_events || why+=" events of the pod: '$reasons' (want Pulled, Created, Started);"
	note "events: $reasons"
	ev=$(kc get events --field-selector involvedObject.name=${PFX}web)
	grep -q Started <<<"$ev" || note "kubectl get events --field-selector: $(tr '\n' ' ' <<<"$ev" | head -c 300)"
	desc=$(kc describe pod ${PFX}web)
	grep -qE "^Node: +$NODE" <<<"$desc" && grep -qE "^Status: +Running" <<<"$desc" ||
		why+=" kubectl describe pod: $(head -c 300 <<<"$desc" | tr '\n' ' ');"
fi
verdict pod_runs_and_is_ready

# test 1's verdict: the Lease renewed (every 10 s) since it was first read
why=$why1
if [ -n "$lease0" ]; then
	left=$((lease0_ms + 25000 - $(ms)))
	[ $left -gt 0 ] || left=1
	if wait_until $(((left + 999) / 1000)) eval '[ "$(lease_renew)" != "$lease0" ]'; then
		note "Lease renewed: $lease0 -> $(lease_renew), $(($(ms) - lease0_ms)) ms after the first read"
	else
		why+=" Lease renewTime still $lease0 after 25 s;"
	fi
fi
verdict node_registers

# ---- 3. kubectl delete pod: gone from the API and from the runtime ----
why=""
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: ${PFX}del
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 10
  containers:
  - name: app
    image: $IMG
    command: ["/bin/sh", "-c", "$LOOP"]
EOF
if ! wait_until 90 eval '[ "$(pod_phase ${PFX}del)" = Running ]'; then
	why+=" never Running: $(pod_summary ${PFX}del);"
else
	deluid=$(pj ${PFX}del .metadata.uid)
	cri_snap
	[ "$(n_running_ct "$deluid")" = 1 ] || why+=" $(n_running_ct "$deluid") running containers before the delete;"
	t=$(ms)
	out=$(kc delete pod ${PFX}del --wait=false)
	grep -q "deleted" <<<"$out" || why+=" kubectl delete: $out;"
	wait_until 60 not_found ${PFX}del || why+=" still in the API 60 s after kubectl delete: $(pod_summary ${PFX}del);"
	note "delete: gone from the API $(($(ms) - t)) ms after kubectl delete"
	wait_until 60 none_of "$deluid" || why+=" still in the runtime: $(grep -h "$deluid" "$tmp/sb" "$tmp/ct" | tr '\n' ' ');"
	note "delete: gone from the runtime $(($(ms) - t)) ms after kubectl delete"
	out=$(kc get pod ${PFX}del)
	grep -q '(NotFound)' <<<"$out" || why+=" kubectl get: '$out';"
fi
verdict pod_delete_removes_it

# ---- 4. a static pod has a mirror pod, made again when deleted, gone with it ----
why=""
MIR=${PFX}static-$NODE
cat >"$M/static.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: ${PFX}static
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: $IMG
    command: ["/bin/sh", "-c", "$LOOP"]
EOF
t=$(ms)
mirror_runs() {
	[ "$(pj "$MIR" '.metadata.annotations["kubernetes.io/config.mirror"] // ""')" != "" ] &&
		[ "$(pod_phase "$MIR")" = Running ]
}
if ! wait_until 90 mirror_runs; then
	why+=" no Running mirror pod $MIR after 90 s: $(kc get pod "$MIR" -o yaml | head -c 600 | tr '\n' ' ');"
else
	note "mirror pod Running $(($(ms) - t)) ms after the manifest"
	m1=$(pj "$MIR" .metadata.uid)
	suid=$(pj "$MIR" '.metadata.annotations["kubernetes.io/config.mirror"]')
	cri_snap
	sids=$(awk -v n="default/$MIR" '$3 == n && $2 == "SANDBOX_READY" { print $4 }' "$tmp/sb")
	[ "$(grep -c . <<<"$sids")" = 1 ] || why+=" ready sandboxes of $MIR: '$sids';"
	srun=$(awk -v u="$sids" '$6 == u && $2 == "CONTAINER_RUNNING" { print $1 }' "$tmp/ct")
	[ "$(grep -c . <<<"$srun")" = 1 ] || why+=" running containers of the static pod: '$srun';"
	[ "$m1" != "$sids" ] || why+=" the mirror pod has the static pod's uid;"
	note "static pod uid $sids, config.mirror $suid, mirror uid $m1"
	[ "$(pj "$MIR" '.status.containerStatuses[0].containerID')" = "containerd://$srun" ] ||
		why+=" the mirror's containerID '$(pj "$MIR" '.status.containerStatuses[0].containerID')' is not the runtime's $srun;"
	t=$(ms)
	out=$(kc delete pod "$MIR" --wait=false)
	grep -q deleted <<<"$out" || why+=" kubectl delete: $out;"
	m2=
	recreated() {
		m2=$(pj "$MIR" .metadata.uid)
		[ -n "$m2" ] && [ "$m2" != "$m1" ] && [ "$(pj "$MIR" '.metadata.deletionTimestamp // ""')" = "" ] &&
			[ "$(pod_phase "$MIR")" = Running ]
	}
	if wait_until 20 recreated; then
		note "mirror pod made again $(($(ms) - t)) ms after kubectl delete: uid $m1 -> $m2"
	else
		# the kubelet deletes a mirror pod that has a deletionTimestamp (grace 0, uid
		# precondition) and makes it again
		why+=" kubectl delete (graceful) of the mirror pod: not made again after 20 s (uid was $m1, now '$m2', deletionTimestamp '$(pj "$MIR" '.metadata.deletionTimestamp // ""')': $(pod_summary "$MIR"));"
		t=$(ms)
		kc delete pod "$MIR" --grace-period=0 --force >/dev/null
		if wait_until 30 recreated; then
			note "mirror pod made again $(($(ms) - t)) ms after kubectl delete --force --grace-period=0: uid $m1 -> $m2"
		else
			why+=" not made again after kubectl delete --force --grace-period=0 either ('$m2');"
		fi
	fi
	sleep 1
	cri_snap
	now=$(awk -v u="$sids" '$6 == u && $2 == "CONTAINER_RUNNING" { print $1 }' "$tmp/ct")
	[ "$now" = "$srun" ] || why+=" the static pod's container changed: '$srun' -> '$now';"
	[ "$(awk -v u="$sids" '$4 == u' "$tmp/sb" | grep -c .)" = 1 ] || why+=" sandboxes of the static pod: $(awk -v u="$sids" '$4 == u' "$tmp/sb" | tr '\n' ' ');"
	[ "$(pj "$MIR" '.status.containerStatuses[0].restartCount')" = 0 ] || why+=" restartCount $(pj "$MIR" '.status.containerStatuses[0].restartCount');"
	t=$(ms)
	rm -f "$M/static.yaml"
	wait_until 60 not_found "$MIR" || why+=" mirror pod still in the API 60 s after the manifest went: $(pod_summary "$MIR");"
	wait_until 60 none_of "$sids" || why+=" static pod still in the runtime: $(grep -h "$sids" "$tmp/sb" "$tmp/ct" | tr '\n' ' ');"
	note "removed manifest: mirror and containers gone in $(($(ms) - t)) ms"
fi
verdict static_pod_has_mirror

# ---- 5. a NoExecute taint rejects the pods that do not tolerate it ----
why=""
t=$(ms)
start_ll2
start_ll3 # checked after the faults (8): its runtime is down for 30 s by then
t3=$(ms)
taint_pod() { # <name> <tolerations yaml>
	kc apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  nodeName: $NODE2
  terminationGracePeriodSeconds: 2
$2
  containers:
  - name: app
    image: $IMG
    command: ["/bin/sh", "-c", "$LOOP"]
EOF
}
if ! wait_until 60 eval '[ "$(kj get node $NODE2 -o json | jq -r ".spec.taints[]? | select(.effect == \"NoExecute\") | .key")" = dedicated ]'; then
	why+=" node $NODE2 not registered with its taint after 30 s: $(kj get node $NODE2 -o json | jq -c .spec);"
else
	taint_pod ${PFX}taint-no "" >/dev/null
	taint_pod ${PFX}taint-ok "  tolerations:
  - {key: dedicated, operator: Equal, value: x, effect: NoExecute}" >/dev/null
	if wait_until 60 eval '[ "$(pod_phase ${PFX}taint-no)" = Failed ]'; then
		reason=$(pj ${PFX}taint-no '.status.reason // ""')
		msg=$(pj ${PFX}taint-no '.status.message // ""')
		note "rejected: reason $reason, message '$msg'"
		[ "$reason" = TaintToleration ] || why+=" reason '$reason' (message '$msg'), want TaintToleration;"
		row=$(kc get pod ${PFX}taint-no --no-headers)
		grep -q TaintToleration <<<"$row" || why+=" kubectl get pod shows '$row';"
	else
		why+=" the untolerating pod is not Failed after 60 s: $(pod_summary ${PFX}taint-no);"
	fi
	nouid=$(pj ${PFX}taint-no .metadata.uid)
	wait_until 90 running_ready ${PFX}taint-ok || why+=" the tolerating pod does not run: $(pod_summary ${PFX}taint-ok);"
	cri_snap
	[ "$(n_sb "$nouid")$(n_ct "$nouid")" = 00 ] || why+=" the rejected pod has sandboxes or containers;"
	okuid=$(pj ${PFX}taint-ok .metadata.uid)
	[ "$(n_running_ct "$okuid")" = 1 ] || why+=" the tolerating pod has $(n_running_ct "$okuid") running containers;"
	note "taints: $(($(ms) - t)) ms"
fi
# its pods go before it does
kj delete pod ${PFX}taint-no ${PFX}taint-ok --wait=false >/dev/null
wait_until 60 eval 'not_found ${PFX}taint-ok && not_found ${PFX}taint-no' ||
	why+=" the taint pods not deleted after 60 s: $(kc get pods --no-headers | grep taint | tr '\n' ' ');"
[ -z "${okuid:-}" ] || wait_until 60 none_of "$okuid" || why+=" the tolerating pod still in the runtime after its delete;"
stop_pid "$l2pid" TERM
l2pid=
verdict noexecute_taint_rejects

# ---- 6. faults of the API server lose nothing ----
why=""
t=$(ms)
req POST /_test/reset-counters
fpod() { # fpod <name>: a pod of this node, made with kubectl
	kc apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
  labels: {app: ${PFX}f}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: $IMG
    command: ["/bin/sh", "-c", "$LOOP"]
EOF
}
FPODS=""
for i in 1 2 3; do fpod ${PFX}f$i >/dev/null; FPODS+=" ${PFX}f$i"; done
# the server killed while ledgerlet starts them, and started again (same dir, port, state)
sleep 0.5
kill -9 "$spid"
wait "$spid" 2>/dev/null
sleep 2
if ! start_server; then
	why+=" the API server did not start again: $(tail -n 3 "$D/stderr" | tr '\n' ' ');"
fi
[ "$(cat "$D/port")" = "$PORT" ] || why+=" the restarted server took port $(cat "$D/port"), not $PORT;"
req POST /_test/reset-counters
for i in 4 5; do fpod ${PFX}f$i >/dev/null; FPODS+=" ${PFX}f$i"; done
# watches cut
req POST /_test/drop-watches
note "drop-watches: $body"
fpod ${PFX}f6 >/dev/null; FPODS+=" ${PFX}f6"
# a 410: the history forgotten, the watches cut; the rewatch from the last version is Gone
sleep 0.5
fpod ${PFX}f7 >/dev/null; FPODS+=" ${PFX}f7"
req POST /_test/compact '{"keep":0}'
req POST /_test/drop-watches
# 500s for the status writes, 429 with Retry-After for the pod list and watch
req POST /_test/fail '{"count":4,"code":500,"match":"^PATCH /api/v1/namespaces/default/pods/[^/]*/status"}'
req POST /_test/fail '{"count":3,"code":429,"retryAfter":1,"match":"^GET /api/v1/pods\\?.*nodeName"}'
req POST /_test/fail '{"count":2,"code":503,"match":"^(PUT|GET) /apis/coordination.k8s.io/"}'
req POST /_test/drop-watches
fpod ${PFX}f8 >/dev/null; FPODS+=" ${PFX}f8"
# a slow server: every PATCH takes 1.5 s for a while
req POST /_test/delay '{"ms":1500,"count":8,"match":"^PATCH "}'
fpod ${PFX}f9 >/dev/null; FPODS+=" ${PFX}f9"
fpod ${PFX}f10 >/dev/null; FPODS+=" ${PFX}f10"
all_f_ready() {
	local p
	for p in $FPODS; do [ "$(pod_phase "$p")" = Running ] || return 1; done
}
if ! wait_until 120 all_f_ready; then
	for p in $FPODS; do [ "$(pod_phase "$p")" = Running ] || why+=" $p: $(pod_summary "$p");"; done
else
	note "faults: all $(wc -w <<<"$FPODS") pods Running $(($(ms) - t)) ms after the first"
fi
req POST /_test/fail '{"count":0}'
req POST /_test/delay '{"count":0}'
sleep 2 # the last statuses
cri_snap
for p in $FPODS; do
	u=$(pj "$p" .metadata.uid)
	[ "$(n_sb "$u")" = 1 ] && [ "$(n_ct "$u")" = 1 ] && [ "$(n_running_ct "$u")" = 1 ] ||
		why+=" $p: $(n_sb "$u") sandboxes, $(n_ct "$u") containers ($(n_running_ct "$u") running);"
done
req GET /_test/writes
writes=$body
maxst=0 nst=0
for p in $FPODS; do
	n=$(jq --arg p "/api/v1/namespaces/default/pods/$p/status" '[.recent[] | select(.path | startswith($p))] | length' <<<"$writes")
	nst=$((nst + n))
	[ "$n" -le "$maxst" ] || maxst=$n
	[ "$n" -ge 1 ] || [ "$p" = ${PFX}f1 ] || [ "$p" = ${PFX}f2 ] || [ "$p" = ${PFX}f3 ] || why+=" $p: no status PATCH after the restart;"
done
note "writes since the server's restart: $(jq -c .counts <<<"$writes")"
note "pod status PATCHes (incl. failed ones) of $(wc -w <<<"$FPODS") pods: $nst, at most $maxst for one pod"
[ "$maxst" -le 8 ] || why+=" $maxst status PATCHes for one pod (want <= 8);"
nev=$(jq '[.counts | to_entries[] | select(.key | test("events")) | .value] | add // 0' <<<"$writes")
note "event writes: $nev"
[ "$nev" -le $((8 * $(wc -w <<<"$FPODS") + 10)) ] || why+=" $nev event writes;"
nreads=$(jq -c '.reads' <<<"$writes")
note "reads: $nreads"
nlist=$(jq '[.reads | to_entries[] | select(.key | test("^(LIST|WATCH) pods$")) | .value] | add // 0' <<<"$writes")
[ "$nlist" -le 40 ] || why+=" $nlist pod LIST/WATCH requests since the restart;"
bo=$(grep -E 'API pods: .*; again in [0-9]+ ms' "$LOG")
[ -n "$bo" ] || why+=" no 'API pods: ...; again in N ms' line in the log;"
note "pod source back-offs: $(grep -c . <<<"$bo"): $(tail -n 3 <<<"$bo" | cut -c1-160 | tr '\n' '|')"
grep -qE 'again in [0-9]+ ms' <<<"$(grep -E '429|Retry|Too' <<<"$bo")" || note "no back-off line names the 429"
kill -0 "$lpid" 2>/dev/null || why+=" ledgerlet died: $(tail -n 3 "$LOG" | tr '\n' ' ');"
verdict api_faults_lose_nothing
kj delete pods -l app=${PFX}f --wait=false >/dev/null

# ---- 7. kill -9 with 30 Ready pods: nothing restarts, the Lease holds, Ready holds ----
why=""
t=$(ms)
for i in $(seq -w 1 30); do
	cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  name: ${PFX}k$i
  labels: {app: ${PFX}k}
spec:
  nodeName: $NODE
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: $IMG
    command: ["/bin/sh", "-c", "echo ok > /tmp/index.html; /bin/httpd -p 8080 -h /tmp; $LOOP"]
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      timeoutSeconds: 3
EOF
done >"$tmp/k.yaml"
out=$(kc apply -f "$tmp/k.yaml")
[ "$(grep -c created <<<"$out")" = 30 ] || why+=" kubectl apply: $(tail -n 2 <<<"$out" | tr '\n' ' ');"
kpods() { kj get pods -l app=${PFX}k -o json; }
all_k_ready() {
	[ "$(kpods | jq '[.items[] | select(.status.phase == "Running" and
		any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length')" = 30 ]
}
# the previous test's pods are gone from the runtime before the kill (their deletion is done)
if ! wait_until 240 all_k_ready; then
	why+=" not all 30 Running and Ready after 240 s: $(kpods | jq -r '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True") | not) | .metadata.name] | join(" ")');"
else
	note "30 pods Ready $(($(ms) - t)) ms after kubectl apply"
	wait_until 30 eval 'cri_snap && [ -z "$(grep -- " default/${PFX}f" "$tmp/sb")" ]' || note "the fault test's pods are still in the runtime"
	cri_snap
	declare -A ids0=()
	kp=$(kpods)
	for u in $(jq -r '.items[].metadata.uid' <<<"$kp"); do ids0[$u]=$(ct_ids "$u" | sort | tr '\n' ' '); done
	cid0=$(jq -r '.items[] | "\(.metadata.uid) \(.status.containerStatuses[0].containerID)"' <<<"$kp" | sort)
	# the observer: once a second, the Lease and the pods through the API
	OBS=$tmp/obs
	observe() {
		local port o lease pods
		port=$(cat "$D/port")
		while :; do
			o=$(ms)
			lease=$(curl -sS --max-time 10 --cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key" \
				"https://127.0.0.1:$port/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/$NODE" 2>>"$OBS.err" |
				jq -r '.spec.renewTime // "" | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601' 2>/dev/null)
			pods=$(curl -sS --max-time 10 --cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key" \
				"https://127.0.0.1:$port/api/v1/namespaces/default/pods?labelSelector=app%3D${PFX}k" 2>>"$OBS.err" |
				jq -r '([.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length) as $r |
					([.items[].status.containerStatuses[0].restartCount] | add) as $rc |
					"\($r) \($rc)"' 2>>"$OBS.err")
			echo "$o ${lease:-?} ${pods:-? ?}"
			sleep 0.8
		done
	}
	observe >"$OBS" 2>>"$OBS.err" &
	ppid_=$!
	sleep 3
	tk=$(ms)
	kill -9 "$lpid"
	wait "$lpid" 2>/dev/null
	sleep 1
	start_ll
	note "kill -9 at $tk, restarted at $(ms)"
	sleep 15
	stop_pid "$ppid_" TERM
	ppid_=
	nobs=$(grep -c . "$OBS")
	note "$nobs observations; Lease renewTimes seen: $(awk '{ print $2 }' "$OBS" | uniq | tr '\n' ' ')"
	nna=$(awk '$2 == "?" || $3 == "?"' "$OBS" | grep -c .)
	[ "$nna" = 0 ] || note "$nna observations without an answer (the API server busy): $(awk '$2 == "?" || $3 == "?" { print $1 }' "$OBS" | tr '\n' ' ')"
	bad=$(awk '$2 == "?" || $3 == "?" { next }
		($2 + 40) * 1000 <= $1 { print "lease lapsed at " $1 " (renewTime " $2 ")" }
		$3 != 30 { print "only " $3 " Ready at " $1 }
		$4 != 0 { print "restartCount sum " $4 " at " $1 }' "$OBS")
	[ -z "$bad" ] || why+=" $(head -n 5 <<<"$bad" | tr '\n' ';')"
	[ ! -s "$OBS.err" ] || note "observer errors: $(sort "$OBS.err" | uniq -c | head -n 3 | tr '\n' ' ')"
	# answered observations before the kill and after the restart
	nb=$(awk -v k="$tk" '$1 < k && $2 != "?" && $3 != "?"' "$OBS" | grep -c .)
	na=$(awk -v k="$tk" '$1 > k + 2000 && $2 != "?" && $3 != "?"' "$OBS" | grep -c .)
	note "answered observations: $nb before the kill, $na from 2 s after it"
	[ "$nb" -ge 1 ] && [ "$na" -ge 8 ] || why+=" too few answered observations ($nb before the kill, $na after);"
	# after: the same containers, one sandbox each, Ready, no restart
	kill -0 "$lpid" 2>/dev/null || why+=" ledgerlet is not running after its restart: $(tail -n 3 "$LOG" | tr '\n' ' ');"
	cri_snap
	kp=$(kpods)
	for u in $(jq -r '.items[].metadata.uid' <<<"$kp"); do
		now=$(ct_ids "$u" | sort | tr '\n' ' ')
		[ "$now" = "${ids0[$u]:-}" ] || why+=" pod $u: containers '${ids0[$u]:-}' -> '$now';"
		[ "$(n_sb "$u")" = 1 ] || why+=" pod $u: $(n_sb "$u") sandboxes;"
	done
	cid1=$(jq -r '.items[] | "\(.metadata.uid) \(.status.containerStatuses[0].containerID)"' <<<"$kp" | sort)
	[ "$cid0" = "$cid1" ] || why+=" the API's containerIDs changed: $(diff <(echo "$cid0") <(echo "$cid1") | grep '^[<>]' | head -n 4 | tr '\n' ' ');"
	[ "$(jq '[.items[].status.containerStatuses[0].restartCount] | add' <<<"$kp")" = 0 ] || why+=" restartCounts: $(jq -c '[.items[].status.containerStatuses[0].restartCount]' <<<"$kp");"
	all_k_ready || why+=" not all Ready after the restart;"
	req GET /_test/info
	note "after the restart: $(jq -c '[.watches[] | .path]' <<<"$body" | head -c 300)"
fi
verdict kill9_with_30_pods

# ---- 8. a node whose runtime does not answer turns NotReady ----
why=""
ready3() { kj get node "$NODE3" -o json | jq -r '.status.conditions[]? | select(.type == "Ready") | "\(.status)|\(.reason)|\(.message)"'; }
if wait_until $((60 - ($(ms) - t3) / 1000 > 5 ? 60 - ($(ms) - t3) / 1000 : 5)) eval '[ "$(ready3 | cut -d"|" -f1)" = False ]'; then
	r3=$(ready3)
	note "node $NODE3 NotReady $(($(ms) - t3)) ms after its start: $r3"
	[ "$r3" = "False|KubeletNotReady|container runtime is down" ] ||
		why+=" Ready condition '$r3' (want False, KubeletNotReady, container runtime is down);"
	grep -q 'container runtime status:' "$LOG3" || why+=" the failing Status call is not in the log;"
else
	why+=" node $NODE3 not NotReady $(($(ms) - t3)) ms after its start: '$(ready3)';"
fi
stop_pid "$l3pid" TERM
l3pid=
verdict runtime_down_makes_node_not_ready

# ---- the end: delete the pods through the API; ledgerlet removes them ----
t=$(ms)
kj delete pods --all --wait=false >/dev/null
if wait_until 90 eval 'nothing_of_ours && [ -z "$(kj get pods -o name)" ]'; then
	note "all pods deleted and removed from the runtime in $(($(ms) - t)) ms"
else
	note "after 90 s: API pods $(kj get pods -o name | wc -l), runtime $(wc -l <"$tmp/sb") sandboxes, $(wc -l <"$tmp/ct") containers"
fi
note "whole suite $(($(ms) - t0)) ms"
[ $nfail -eq 0 ]
