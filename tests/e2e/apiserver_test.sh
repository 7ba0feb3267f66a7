#!/usr/bin/env bash
# The test API server (tests/apiserver/apiserver.py) end to end, driven by the real
# kubectl and by curl: authentication (client certificate, token, none), kubectl apply,
# get, describe and delete, a node registering and reporting its status by strategic
# merge patch, the status subresource, pod status patches with $setElementOrder,
# list + watch resumed from a resourceVersion, 410 after compaction, bookmarks,
# conflicts and preconditions, graceful deletion of a bound pod, schema validation,
# injected faults, kill -9 and restart, and the scheduler. Needs no containerd.
# Prints "pass e2e/apiserver/NAME" / "fail e2e/apiserver/NAME: why" lines; "# ..."
# lines are timings and notes. Exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
PY=/usr/bin/python3
SERVER=tests/apiserver/apiserver.py
tmp=$(mktemp -d /tmp/ledgerlet-apiserver-e2e.XXXXXX)
D=$tmp/server
spid=
s2pid=

pass() { echo "pass e2e/apiserver/$1"; }
nfail=0
fail() { echo "fail e2e/apiserver/$1: $2"; nfail=$((nfail + 1)); }
ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
note() { echo "# $*"; }
t0=$(ms)

stop_pid() { # stop_pid <pid> <signal>
	[ -n "$1" ] || return 0
	kill -"$2" "$1" 2>/dev/null
	local i
	for ((i = 0; i < 60; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
cleanup() {
	stop_pid "$spid" TERM
	stop_pid "$s2pid" TERM
	[ -z "$(jobs -p)" ] || kill $(jobs -p) 2>/dev/null
	if [ $nfail -ne 0 ]; then
		cat "$D/stderr" 2>/dev/null | sed 's/^/#   stderr | /'
		tail -n 30 "$D/access.log" 2>/dev/null | sed 's/^/#   access.log | /'
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# start_server <dir> [args...]: starts a server, sets $started_pid; waits until ready
start_server() {
	local dir=$1 i
	shift
	mkdir -p "$dir"
	$PY $SERVER --dir "$dir" "$@" >"$dir/stdout" 2>>"$dir/stderr" &
	started_pid=$!
	for ((i = 0; i < 600; i++)); do
		grep -q "^listening on https://127.0.0.1:" "$dir/stdout" 2>/dev/null && return 0
		kill -0 $started_pid 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# req <METHOD> <PATH> [DATA [CONTENT-TYPE]]: as the admin; sets $code and $body
req() {
	local data=() port
	port=$(cat "$D/port")
	[ $# -ge 3 ] && data=(--data-binary "$3" -H "Content-Type: ${4:-application/json}")
	code=$(curl -sS -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' --max-time 20 \
		--cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key" \
		-X "$1" "${data[@]}" "https://127.0.0.1:$port$2" 2>"$tmp/curl.err")
	body=$(cat "$tmp/body")
}
# watch_to <file> <PATH?query>: a watch stream into a file, in the background ($wpid)
watch_to() {
	curl -sS -N --max-time 30 --cacert "$D/ca.crt" --cert "$D/admin.crt" --key "$D/admin.key" \
		"https://127.0.0.1:$(cat "$D/port")$2" >"$1" 2>"$1.err" &
	wpid=$!
}
# kubectl comes with the machine (not from Debian); without it its checks fail, the rest run
kc() {
	command -v kubectl >/dev/null || { echo "kubectl is not installed"; return 1; }
	kubectl --kubeconfig "$D/kubeconfig" --cache-dir "$tmp/kcache" --request-timeout=20s "$@" 2>&1
}
# jb [jq options] <filter>: on the last response's body
jb() { jq -r "$@" <<<"$body" 2>/dev/null; }
# wait_until <seconds> <command...>
wait_until() {
	local end=$(($(ms) + $1 * 1000))
	shift
	while ! "$@"; do
		[ "$(ms)" -lt "$end" ] || return 1
		sleep 0.1
	done
}
# lines_in <file> <n>: the file has at least n lines
lines_in() { [ "$(grep -c . "$1" 2>/dev/null)" -ge "$2" ]; }
# open_watches <n>: the server has at least n watch streams open
open_watches() { req GET /_test/info && [ "$(jb '.watches | length')" -ge "$1" ]; }
# verdict <name>: pass if no reason was collected in $why; notes a slow test
t_last=$(ms)
verdict() {
	if [ -z "$why" ]; then pass "$1"; else fail "$1" "${why# }"; fi
	local dt=$(($(ms) - t_last))
	[ $dt -lt 4000 ] || note "$1 took $dt ms"
	t_last=$(ms)
}

ALL_TESTS="auth_cert_token_and_none kubectl_apply_get_describe_pod node_registers_and_reports_status
status_subresource_isolation pod_status_strategic_merge list_then_watch_resumes watch_gone_after_compaction
watch_bookmarks_and_timeout conflicts_and_not_found delete_uid_precondition graceful_delete_bound_pod
validation_rejects_invalid fault_injection_reaches_client drop_watches_cuts_streams write_counters
restart_keeps_objects_and_rv kubectl_delete_pod binding_subresource admission_mirror_pods_and_priority
scheduler_binds_when_node_ready sigterm_exits_cleanly"

# ---- setup ----
missing=""
for c in curl jq openssl; do command -v $c >/dev/null || missing+=" $c"; done
[ -x $PY ] || missing+=" $PY"
if [ -n "$missing" ]; then
	for n in $ALL_TESTS; do fail "$n" "missing:$missing"; done
	exit 1
fi
if ! start_server "$D" --port 0; then
	for n in $ALL_TESTS; do fail "$n" "the server did not start: $(tail -n 3 "$D/stderr" | tr '\n' ' ')"; done
	exit 1
fi
spid=$started_pid
note "server up in $(($(ms) - t0)) ms on port $(cat "$D/port")"
t_last=$(ms)

# ---- 1. authentication ----
why=""
req GET /api/v1/namespaces
[ "$code" = 200 ] && [ "$(jb '.items | length')" -ge 4 ] || why+=" admin cert: $code;"
port=$(cat "$D/port")
c=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" --cert "$D/node.crt" --key "$D/node.key" \
	"https://127.0.0.1:$port/api/v1/nodes")
[ "$c" = 200 ] || why+=" node cert: $c;"
c=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" -H "Authorization: Bearer $(cat "$D/token")" \
	"https://127.0.0.1:$port/api/v1/pods")
[ "$c" = 200 ] || why+=" token: $c;"
out=$(curl -sS -w ' %{http_code}' --cacert "$D/ca.crt" "https://127.0.0.1:$port/api/v1/pods")
[ "${out##* }" = 401 ] && [ "$(jq -r .reason <<<"${out% *}")" = Unauthorized ] || why+=" no auth: $out;"
c=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$D/ca.crt" -H "Authorization: Bearer nope" \
	"https://127.0.0.1:$port/api/v1/pods")
[ "$c" = 401 ] || why+=" bad token: $c;"
out=$(kubectl --kubeconfig "$D/kubeconfig-token" --cache-dir "$tmp/kcache" get ns default -o name 2>&1)
[ "$out" = namespace/default ] || why+=" kubectl with kubeconfig-token: $out;"
out=$(kubectl --kubeconfig "$D/kubeconfig-files" --cache-dir "$tmp/kcache" get sa default -o name 2>&1)
[ "$out" = serviceaccount/default ] || why+=" kubectl with kubeconfig-files: $out;"
verdict auth_cert_token_and_none

# ---- 2. kubectl apply, get, describe ----
cat >"$tmp/web.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: httpd
    image: busybox:1.36
    command: ["httpd", "-f", "-p", "8080"]
    ports: [{containerPort: 8080}]
    readinessProbe: {httpGet: {port: 8080}}
    resources: {limits: {cpu: 100m, memory: 64Mi}}
EOF
why=""
out=$(kc apply -f "$tmp/web.yaml")
[ "$out" = "pod/web created" ] || why+=" apply: $out;"
out=$(kc get pods -o wide)
grep -Eq '^web +0/1 +Pending +0 +[0-9]+s +<none> +<none> +<none> +<none>$' <<<"$out" || why+=" get -o wide: $out;"
out=$(kc get pods -A)
grep -Eq '^default +web +0/1 +Pending' <<<"$out" || why+=" get -A: $out;"
out=$(kc describe pod web)
for want in "Service Account:  default" "QoS Class:        Guaranteed" \
	"node.kubernetes.io/not-ready:NoExecute op=Exists for 300s" "timeout=1s period=10s #success=1 #failure=3"; do
	grep -qF "$want" <<<"$out" || why+=" describe lacks '$want';"
done
sed -i 's/busybox:1.36/busybox:1.37/; s/app: web}/app: web, tier: front}/' "$tmp/web.yaml"
out=$(kc apply -f "$tmp/web.yaml")
[ "$out" = "pod/web configured" ] || why+=" re-apply: $out;"
out=$(kc get pod web -o jsonpath='{.spec.containers[0].image} {.metadata.labels.tier} {.metadata.generation}')
[ "$out" = "busybox:1.37 front 2" ] || why+=" after re-apply: '$out';"
grep -q '"PATCH /api/v1/namespaces/default/pods/web?fieldManager=kubectl-client-side-apply' "$D/access.log" ||
	grep -q 'PATCH /api/v1/namespaces/default/pods/web' "$D/access.log" || why+=" no PATCH in the access log;"
out=$(kc explain pod.spec.nodeName)
grep -q "nodeName" <<<"$out" || why+=" explain: $(head -n 2 <<<"$out");"
verdict kubectl_apply_get_describe_pod

# ---- 3. a node registers and reports its status ----
NODE_JSON='{"apiVersion":"v1","kind":"Node","metadata":{"name":"e2e-node","labels":{"kubernetes.io/arch":"amd64",
"kubernetes.io/hostname":"e2e-node","kubernetes.io/os":"linux","node-role.kubernetes.io/worker":""},
"annotations":{"volumes.kubernetes.io/controller-managed-attach-detach":"true"}},
"spec":{"podCIDR":"10.244.77.0/24","podCIDRs":["10.244.77.0/24"]},
"status":{"capacity":{"cpu":"2","memory":"24Gi","pods":"110","ephemeral-storage":"100Gi"},
"allocatable":{"cpu":"2","memory":"23Gi","pods":"110","ephemeral-storage":"90Gi"},
"conditions":[
{"type":"MemoryPressure","status":"False","lastHeartbeatTime":"2025-01-01T00:00:00Z","lastTransitionTime":"2025-01-01T00:00:00Z","reason":"KubeletHasSufficientMemory","message":"kubelet has sufficient memory available"},
{"type":"DiskPressure","status":"False","lastHeartbeatTime":"2025-01-01T00:00:00Z","lastTransitionTime":"2025-01-01T00:00:00Z","reason":"KubeletHasNoDiskPressure","message":"kubelet has no disk pressure"},
{"type":"PIDPressure","status":"False","lastHeartbeatTime":"2025-01-01T00:00:00Z","lastTransitionTime":"2025-01-01T00:00:00Z","reason":"KubeletHasSufficientPID","message":"kubelet has sufficient PID available"},
{"type":"Ready","status":"False","lastHeartbeatTime":"2025-01-01T00:00:00Z","lastTransitionTime":"2025-01-01T00:00:00Z","reason":"KubeletNotReady","message":"container runtime status check may not have completed yet"}],
"addresses":[{"type":"InternalIP","address":"10.0.0.5"},{"type":"Hostname","address":"e2e-node"}],
"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},
"nodeInfo":{"machineID":"m1","systemUUID":"s1","bootID":"b1","kernelVersion":"6.1.0-e2e","osImage":"Debian GNU/Linux 12 (bookworm)",
"containerRuntimeVersion":"containerd://1.6.20","kubeletVersion":"v1.32.0-ledgerlet","kubeProxyVersion":"","operatingSystem":"linux","architecture":"amd64"},
"images":[{"names":["docker.io/library/busybox:1.36"],"sizeBytes":2000000}]}}'
NODE_READY_PATCH='{"status":{"$setElementOrder/conditions":[{"type":"MemoryPressure"},{"type":"DiskPressure"},{"type":"PIDPressure"},{"type":"Ready"}],
"conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"2025-01-01T00:01:00Z","lastTransitionTime":"2025-01-01T00:01:00Z","reason":"KubeletReady","message":"kubelet is posting ready status"}],
"images":[{"names":["docker.io/library/busybox:1.37"],"sizeBytes":2100000}]}}'
why=""
req POST /api/v1/nodes "$NODE_JSON"
[ "$code" = 201 ] || why+=" create: $code $(jb .message);"
req POST /api/v1/nodes "$NODE_JSON"
[ "$code" = 409 ] && [ "$(jb .reason)" = AlreadyExists ] || why+=" second create: $code $(jb .reason);"
req PATCH /api/v1/nodes/e2e-node/status "$NODE_READY_PATCH" application/strategic-merge-patch+json
[ "$code" = 200 ] || why+=" status patch: $code $(jb .message);"
got=$(jb '[.status.conditions[] | .type + "=" + .status + "/" + .reason] | join(",")')
[ "$got" = "MemoryPressure=False/KubeletHasSufficientMemory,DiskPressure=False/KubeletHasNoDiskPressure,PIDPressure=False/KubeletHasSufficientPID,Ready=True/KubeletReady" ] ||
	why+=" conditions after patch: $got;"
[ "$(jb '.status.images | length'):$(jb '.status.images[0].names[0]')" = "1:docker.io/library/busybox:1.37" ] ||
	why+=" images not replaced: $(jb -c .status.images);"
[ "$(jb '.status.addresses | length')" = 2 ] || why+=" addresses: $(jb -c .status.addresses);"
out=$(kc get nodes -o wide)
grep -Eq '^e2e-node +Ready +worker +[0-9]+s +v1.32.0-ledgerlet +10.0.0.5 +<none> +Debian GNU/Linux 12 \(bookworm\) +6.1.0-e2e +containerd://1.6.20$' <<<"$out" ||
	why+=" get nodes -o wide: $out;"
out=$(kc describe node e2e-node)
for want in "KubeletReady" "kubelet is posting ready status" "InternalIP:  10.0.0.5" "PodCIDR:                      10.244.77.0/24" \
	"Kubelet Version:            v1.32.0-ledgerlet"; do
	grep -qF "$want" <<<"$out" || why+=" describe node lacks '$want';"
done
verdict node_registers_and_reports_status

# ---- 4. the status subresource ----
why=""
req GET /api/v1/namespaces/default/pods/web
uid=$(jb .metadata.uid)
spec_before=$(jq -cS .spec <<<"$body")
req PATCH /api/v1/namespaces/default/pods/web '{"status":{"phase":"Running"},"metadata":{"labels":{"main":"yes"}}}' \
	application/merge-patch+json
[ "$code" = 200 ] && [ "$(jb .status.phase)" = Pending ] && [ "$(jb .metadata.labels.main)" = yes ] ||
	why+=" main patch changed status (or failed): $code phase=$(jb .status.phase);"
req GET /api/v1/namespaces/default/pods/web
put=$(jq -c '.status.phase = "Failed" | .metadata.labels.put = "yes"' <<<"$body")
req PUT /api/v1/namespaces/default/pods/web "$put"
[ "$code" = 200 ] && [ "$(jb .status.phase)" = Pending ] && [ "$(jb .metadata.labels.put)" = yes ] ||
	why+=" main PUT changed status (or failed): $code phase=$(jb .status.phase);"
req PATCH /api/v1/namespaces/default/pods/web/status \
	'{"spec":{"nodeName":"elsewhere"},"status":{"message":"via status"}}' application/merge-patch+json
[ "$code" = 200 ] && [ "$(jb .status.message)" = "via status" ] && [ "$(jq -cS .spec <<<"$body")" = "$spec_before" ] ||
	why+=" status patch changed spec (or failed): $code nodeName=$(jb .spec.nodeName);"
req PATCH /api/v1/nodes/e2e-node '{"status":{"phase":"Terminated"},"spec":{"unschedulable":false}}' application/merge-patch+json
[ "$code" = 200 ] && [ "$(jb '.status.phase // "none"')" = none ] || why+=" node main patch changed status: $code;"
verdict status_subresource_isolation

# ---- 5. pod status by strategic merge patch, as a kubelet sends it ----
why=""
req POST /api/v1/namespaces/default/pods '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"smp"},
"spec":{"nodeName":"e2e-node","containers":[{"name":"app","image":"busybox:1.36"}]}}'
[ "$code" = 201 ] || why+=" create: $code $(jb .message);"
suid=$(jb .metadata.uid)
ORDER='"$setElementOrder/conditions":[{"type":"PodReadyToStartContainers"},{"type":"Initialized"},{"type":"Ready"},{"type":"ContainersReady"},{"type":"PodScheduled"}]'
P1='{"metadata":{"uid":"'$suid'"},"status":{'$ORDER',
"conditions":[{"type":"PodReadyToStartContainers","status":"False","lastProbeTime":null,"lastTransitionTime":"2025-01-01T00:00:00Z"},
{"type":"Initialized","status":"True","lastProbeTime":null,"lastTransitionTime":"2025-01-01T00:00:00Z"},
{"type":"Ready","status":"False","lastProbeTime":null,"lastTransitionTime":"2025-01-01T00:00:00Z","reason":"ContainersNotReady","message":"containers with unready status: [app]"},
{"type":"ContainersReady","status":"False","lastProbeTime":null,"lastTransitionTime":"2025-01-01T00:00:00Z","reason":"ContainersNotReady","message":"containers with unready status: [app]"},
{"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":"2025-01-01T00:00:00Z"}],
"containerStatuses":[{"name":"app","image":"busybox:1.36","imageID":"","ready":false,"restartCount":0,"started":false,"state":{"waiting":{"reason":"ContainerCreating"}},"lastState":{}}],
"hostIP":"10.0.0.5","hostIPs":[{"ip":"10.0.0.5"}],"phase":"Pending","startTime":"2025-01-01T00:00:00Z"}}'
P2='{"metadata":{"uid":"'$suid'"},"status":{'$ORDER',
"conditions":[{"type":"PodReadyToStartContainers","status":"True","lastTransitionTime":"2025-01-01T00:00:05Z"},
{"type":"Ready","status":"True","lastTransitionTime":"2025-01-01T00:00:06Z","reason":null,"message":null},
{"type":"ContainersReady","status":"True","lastTransitionTime":"2025-01-01T00:00:06Z","reason":null,"message":null}],
"containerStatuses":[{"name":"app","image":"docker.io/library/busybox:1.36","imageID":"docker.io/library/busybox@sha256:abcd","containerID":"containerd://c1",
"ready":true,"restartCount":0,"started":true,"state":{"running":{"startedAt":"2025-01-01T00:00:04Z"}},"lastState":{}}],
"phase":"Running","podIP":"10.244.77.5","podIPs":[{"ip":"10.244.77.5"}]}}'
WANT='{"conditions":[{"type":"PodReadyToStartContainers","status":"True","lastTransitionTime":"2025-01-01T00:00:05Z"},
{"type":"Initialized","status":"True","lastTransitionTime":"2025-01-01T00:00:00Z"},
{"type":"Ready","status":"True","lastTransitionTime":"2025-01-01T00:00:06Z"},
{"type":"ContainersReady","status":"True","lastTransitionTime":"2025-01-01T00:00:06Z"},
{"type":"PodScheduled","status":"True","lastTransitionTime":"2025-01-01T00:00:00Z"}],
"containerStatuses":[{"name":"app","image":"docker.io/library/busybox:1.36","imageID":"docker.io/library/busybox@sha256:abcd","containerID":"containerd://c1",
"ready":true,"restartCount":0,"started":true,"state":{"running":{"startedAt":"2025-01-01T00:00:04Z"}},"lastState":{}}],
"hostIP":"10.0.0.5","hostIPs":[{"ip":"10.0.0.5"}],"phase":"Running","podIP":"10.244.77.5","podIPs":[{"ip":"10.244.77.5"}],
"qosClass":"BestEffort","startTime":"2025-01-01T00:00:00Z"}'
req PATCH /api/v1/namespaces/default/pods/smp/status "$P1" application/strategic-merge-patch+json
[ "$code" = 200 ] || why+=" first patch: $code $(jb .message);"
rv1=$(jb .metadata.resourceVersion)
req PATCH /api/v1/namespaces/default/pods/smp/status "$P2" application/strategic-merge-patch+json
[ "$code" = 200 ] || why+=" second patch: $code $(jb .message);"
if [ "$(jq -cS .status <<<"$body")" != "$(jq -cS . <<<"$WANT")" ]; then
	why+=" merged status differs: $(diff <(jq -S .status <<<"$body") <(jq -S . <<<"$WANT") | grep '^[<>]' | head -n 6 | tr '\n' ' ');"
fi
# the same patch again changes nothing: no new resourceVersion
rv2=$(jb .metadata.resourceVersion)
req PATCH /api/v1/namespaces/default/pods/smp/status "$P2" application/strategic-merge-patch+json
[ "$(jb .metadata.resourceVersion)" = "$rv2" ] && [ "$rv2" != "$rv1" ] || why+=" no-op patch bumped rv $rv2 -> $(jb .metadata.resourceVersion);"
# a status patch for another incarnation of the pod (stale uid) is a conflict
req PATCH /api/v1/namespaces/default/pods/smp/status '{"metadata":{"uid":"0000"},"status":{"phase":"Failed"}}' \
	application/strategic-merge-patch+json
[ "$code" = 409 ] && [ "$(jb .reason)" = Conflict ] || why+=" stale uid patch: $code;"
# $patch: delete removes a condition; $setElementOrder alone reorders
req PATCH /api/v1/namespaces/default/pods/smp/status \
	'{"status":{"conditions":[{"type":"PodReadyToStartContainers","$patch":"delete"}]}}' application/strategic-merge-patch+json
req PATCH /api/v1/namespaces/default/pods/smp/status \
	'{"status":{"$setElementOrder/conditions":[{"type":"PodScheduled"},{"type":"Ready"},{"type":"ContainersReady"},{"type":"Initialized"}]}}' \
	application/strategic-merge-patch+json
got=$(jb '[.status.conditions[].type] | join(",")')
[ "$got" = "PodScheduled,Ready,ContainersReady,Initialized" ] || why+=" after delete + reorder: $got;"
verdict pod_status_strategic_merge

# ---- 6. list, then watch from the list's resourceVersion ----
why=""
req GET "/api/v1/namespaces/default/configmaps?labelSelector=e2e%3Dwatch"
rv=$(jb .metadata.resourceVersion)
[ "$code" = 200 ] && [ "$(jb '.items | length')" = 0 ] || why+=" list: $code;"
for i in 1 2 3; do
	req POST /api/v1/namespaces/default/configmaps '{"metadata":{"name":"w'$i'","labels":{"e2e":"watch"}},"data":{"n":"'$i'"}}'
done
req PATCH /api/v1/namespaces/default/configmaps/w2 '{"data":{"n":"22"}}' application/merge-patch+json
req PATCH /api/v1/namespaces/default/configmaps/w3 '{"metadata":{"labels":{"e2e":"other"}}}' application/merge-patch+json
req DELETE /api/v1/namespaces/default/configmaps/w1
watch_to "$tmp/w6" "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=$rv&labelSelector=e2e%3Dwatch&timeoutSeconds=2"
wait $wpid
got=$(jq -r '.type + ":" + .object.metadata.name + ":" + (.object.data.n // "")' "$tmp/w6" | tr '\n' ' ')
[ "$got" = "ADDED:w1:1 ADDED:w2:2 ADDED:w3:3 MODIFIED:w2:22 DELETED:w3:3 DELETED:w1:1 " ] || why+=" events: '$got';"
rvs=$(jq -r .object.metadata.resourceVersion "$tmp/w6" | tr '\n' ' ')
sorted=$(tr ' ' '\n' <<<"$rvs" | grep . | sort -n | tr '\n' ' ')
[ "$rvs" = "$sorted" ] || why+=" resourceVersions out of order: $rvs;"
# a live watch by field selector sees only what matches
req GET /api/v1/pods
watch_to "$tmp/w6b" "/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3De2e-node&resourceVersion=$(jb .metadata.resourceVersion)&timeoutSeconds=30"
req POST /api/v1/namespaces/default/pods '{"metadata":{"name":"fs"},"spec":{"nodeName":"e2e-node","containers":[{"name":"c","image":"busybox"}]}}'
req POST /api/v1/namespaces/default/pods '{"metadata":{"name":"fs-other"},"spec":{"nodeName":"other","containers":[{"name":"c","image":"busybox"}]}}'
# a last matching pod: anything wrongly sent for fs-other comes before it
req POST /api/v1/namespaces/default/pods '{"metadata":{"name":"fs-last"},"spec":{"nodeName":"e2e-node","containers":[{"name":"c","image":"busybox"}]}}'
wait_until 20 lines_in "$tmp/w6b" 2
kill $wpid 2>/dev/null
wait $wpid 2>/dev/null
got=$(jq -r '.type + ":" + .object.metadata.name' "$tmp/w6b" | tr '\n' ' ')
[ "$got" = "ADDED:fs ADDED:fs-last " ] || why+=" field selector watch: '$got';"
verdict list_then_watch_resumes

# ---- 7. 410 Gone after compaction ----
why=""
req GET /api/v1/namespaces/default/configmaps
old_rv=$(jb .metadata.resourceVersion)
req POST /api/v1/namespaces/default/configmaps '{"metadata":{"name":"after-compact"}}'
req POST /_test/compact
[ "$code" = 200 ] || why+=" compact: $code;"
watch_to "$tmp/w7" "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=$old_rv"
wait $wpid
wrc=$?
got=$(jq -r '.type + " " + (.object.code|tostring) + " " + .object.reason' "$tmp/w7" | tr '\n' ' ')
[ "$got" = "ERROR 410 Expired " ] && [ $wrc = 0 ] || why+=" watch from $old_rv: '$got' (curl $wrc);"
req GET "/api/v1/namespaces/default/configmaps?resourceVersion=$old_rv&resourceVersionMatch=NotOlderThan"
[ "$code" = 200 ] || why+=" list NotOlderThan: $code;"
req GET "/api/v1/namespaces/default/configmaps?resourceVersion=$old_rv&resourceVersionMatch=Exact"
[ "$code" = 410 ] && [ "$(jb .reason)" = Expired ] || why+=" list Exact: $code;"
verdict watch_gone_after_compaction

# ---- 8. bookmarks and timeoutSeconds ----
why=""
req POST /_test/config '{"bookmarkInterval":0.4}'
req GET /api/v1/namespaces/default/pods
t=$(ms)
watch_to "$tmp/w8" "/api/v1/namespaces/default/pods?watch=1&allowWatchBookmarks=true&resourceVersion=$(jb .metadata.resourceVersion)&timeoutSeconds=2"
wait $wpid
wrc=$?
dt=$(($(ms) - t))
n=$(jq -r 'select(.type == "BOOKMARK") | .object.metadata.resourceVersion' "$tmp/w8" | grep -c .)
shape=$(jq -c 'select(.type == "BOOKMARK") | .object | [.kind, .apiVersion, (.metadata | keys)]' "$tmp/w8" | sort -u)
[ "$n" -ge 2 ] || why+=" $n bookmarks in 2 s at 0.4 s;"
[ "$shape" = '["Pod","v1",["creationTimestamp","resourceVersion"]]' ] || why+=" bookmark: $shape;"
[ $wrc = 0 ] && [ $dt -ge 1800 ] && [ $dt -le 8000 ] || why+=" stream ended after $dt ms (curl $wrc), want ~2000 and clean;"
req POST /_test/config '{"bookmarkInterval":10}'
verdict watch_bookmarks_and_timeout

# ---- 9. conflicts and not found ----
why=""
req GET /api/v1/namespaces/default/configmaps/w2
stale=$body
req PUT /api/v1/namespaces/default/configmaps/w2 "$(jq -c '.data.n = "fresh"' <<<"$stale")"
[ "$code" = 200 ] || why+=" fresh PUT: $code;"
req PUT /api/v1/namespaces/default/configmaps/w2 "$(jq -c '.data.n = "stale"' <<<"$stale")"
[ "$code" = 409 ] && [ "$(jb .reason)" = Conflict ] && [ "$(jb .kind)" = Status ] || why+=" stale PUT: $code $(jb .reason);"
grep -q "the object has been modified" <<<"$(jb .message)" || why+=" message: $(jb .message);"
req PATCH /api/v1/namespaces/default/configmaps/w2 \
	'{"metadata":{"resourceVersion":"'"$(jq -r .metadata.resourceVersion <<<"$stale")"'"},"data":{"n":"x"}}' application/merge-patch+json
[ "$code" = 409 ] || why+=" stale PATCH: $code;"
req GET /api/v1/namespaces/default/configmaps/nope
[ "$code" = 404 ] && [ "$(jb .reason)" = NotFound ] && [ "$(jb .details.name)" = nope ] &&
	[ "$(jb .message)" = 'configmaps "nope" not found' ] || why+=" missing: $code $(jb .message);"
req POST /api/v1/namespaces/nowhere/configmaps '{"metadata":{"name":"x"}}'
[ "$code" = 404 ] || why+=" create in a missing namespace: $code;"
req PATCH /api/v1/namespaces/default/configmaps/w2 'x: 1' application/apply-patch+yaml
[ "$code" = 415 ] || why+=" apply patch: $code;"
verdict conflicts_and_not_found

# ---- 10. uid precondition on delete ----
why=""
req GET /api/v1/namespaces/default/configmaps/w2
cuid=$(jb .metadata.uid)
req DELETE /api/v1/namespaces/default/configmaps/w2 '{"preconditions":{"uid":"not-the-uid"}}'
[ "$code" = 409 ] && [ "$(jb .reason)" = Conflict ] || why+=" wrong uid: $code;"
req GET /api/v1/namespaces/default/configmaps/w2
[ "$code" = 200 ] || why+=" gone after the refused delete: $code;"
req DELETE /api/v1/namespaces/default/configmaps/w2 '{"preconditions":{"uid":"'$cuid'"}}'
[ "$code" = 200 ] && [ "$(jb .status)" = Success ] || why+=" right uid: $code;"
req GET /api/v1/namespaces/default/configmaps/w2
[ "$code" = 404 ] || why+=" still there: $code;"
verdict delete_uid_precondition

# ---- 11. graceful deletion of a bound pod ----
why=""
req POST /api/v1/namespaces/default/pods '{"metadata":{"name":"grace"},"spec":{"nodeName":"e2e-node","containers":[{"name":"c","image":"busybox:1.36"}]}}'
guid=$(jb .metadata.uid)
watch_to "$tmp/w11" "/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dgrace&resourceVersion=$(jb .metadata.resourceVersion)&timeoutSeconds=30"
req DELETE /api/v1/namespaces/default/pods/grace
[ "$code" = 200 ] && [ "$(jb .metadata.deletionGracePeriodSeconds)" = 30 ] && [ "$(jb .metadata.deletionTimestamp)" != null ] ||
	why+=" first delete: $code grace=$(jb .metadata.deletionGracePeriodSeconds);"
ts1=$(jb .metadata.deletionTimestamp)
req DELETE "/api/v1/namespaces/default/pods/grace?gracePeriodSeconds=10"
ts2=$(jb .metadata.deletionTimestamp)
[ "$code" = 200 ] && [ "$(jb .metadata.deletionGracePeriodSeconds)" = 10 ] && [[ "$ts2" < "$ts1" ]] ||
	why+=" shorter grace: $code grace=$(jb .metadata.deletionGracePeriodSeconds) $ts1 -> $ts2;"
req DELETE "/api/v1/namespaces/default/pods/grace?gracePeriodSeconds=20"
[ "$(jb .metadata.deletionGracePeriodSeconds)" = 10 ] || why+=" a longer grace was taken;"
req GET /api/v1/namespaces/default/pods/grace
[ "$code" = 200 ] || why+=" gone before the kubelet's delete: $code;"
req DELETE /api/v1/namespaces/default/pods/grace '{"gracePeriodSeconds":0,"preconditions":{"uid":"wrong"}}'
[ "$code" = 409 ] || why+=" final delete with a wrong uid: $code;"
req DELETE /api/v1/namespaces/default/pods/grace '{"gracePeriodSeconds":0,"preconditions":{"uid":"'$guid'"}}'
[ "$code" = 200 ] || why+=" final delete: $code $(jb .message);"
req GET /api/v1/namespaces/default/pods/grace
[ "$code" = 404 ] || why+=" still there: $code;"
req POST /api/v1/namespaces/default/pods '{"metadata":{"name":"unbound"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}'
req DELETE /api/v1/namespaces/default/pods/unbound
req GET /api/v1/namespaces/default/pods/unbound
[ "$code" = 404 ] || why+=" unbound pod not deleted at once: $code;"
wait_until 20 lines_in "$tmp/w11" 3
kill $wpid 2>/dev/null
wait $wpid 2>/dev/null
got=$(jq -r '.type + ":" + (.object.metadata.deletionGracePeriodSeconds // 0 | tostring)' "$tmp/w11" | tr '\n' ' ')
[ "$got" = "MODIFIED:30 MODIFIED:10 DELETED:10 " ] || why+=" watch saw '$got';"
verdict graceful_delete_bound_pod

# ---- 12. schema validation ----
why=""
req POST /_test/reset-counters
req POST /api/v1/namespaces/default/pods '{"metadata":{"name":"bad"},"spec":{"containers":[{"name":"c","image":5,"imagePullPolicy":"Always","bogus":true}]}}'
msg=$(jb .message)
[ "$code" = 422 ] && [ "$(jb .reason)" = Invalid ] || why+=" create: $code $(jb .reason);"
grep -q 'spec.containers\[0\].image' <<<"$msg" && grep -q 'spec.containers\[0\].bogus' <<<"$msg" || why+=" message: $msg;"
req PATCH /api/v1/namespaces/default/pods/smp/status '{"status":{"conditions":[{"type":"Ready","status":true}]}}' \
	application/strategic-merge-patch+json
[ "$code" = 422 ] && grep -q 'status.conditions\[.\].status' <<<"$(jb .message)" || why+=" status patch: $code $(jb .message);"
req PATCH /api/v1/nodes/e2e-node/status '{"status":{"conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"yesterday"}]}}' \
	application/strategic-merge-patch+json
[ "$code" = 422 ] && grep -q 'lastHeartbeatTime' <<<"$(jb .message)" || why+=" bad time: $code $(jb .message);"
req POST /api/v1/namespaces/default/pods '{"metadata":{"name":"Bad_Name"},"spec":{"containers":[{"name":"c","image":"x"}]}}'
[ "$code" = 422 ] && grep -q 'metadata.name' <<<"$(jb .message)" || why+=" bad name: $code;"
req GET /_test/invalid
[ "$(jb '.items | length')" = 4 ] && [ "$(jb '.items[0].causes[0].field')" = "spec.containers[0].image" ] ||
	why+=" /_test/invalid: $(jb -c '[.items[] | .path]');"
verdict validation_rejects_invalid

# ---- 13. injected faults reach the client ----
why=""
req POST /_test/fail '{"count":1,"code":429,"retryAfter":2,"match":"^GET /api/v1/namespaces/default/configmaps/w3"}'
req GET /api/v1/namespaces/default/configmaps/w3
[ "$code" = 429 ] && [ "$(jb .reason)" = TooManyRequests ] || why+=" first: $code;"
grep -qi '^retry-after: 2' "$tmp/headers" || why+=" no Retry-After: $(tr '\r\n' '  ' <"$tmp/headers");"
req GET /api/v1/namespaces/default/configmaps/w3
[ "$code" = 200 ] || why+=" second: $code;"
req POST /_test/fail '{"count":1,"code":503,"retryAfter":1,"match":"^GET /api/v1/namespaces/default/configmaps/w3"}'
t=$(ms)
out=$(kc get configmap w3 -o name)
dt=$(($(ms) - t))
[ "$out" = configmap/w3 ] && [ $dt -ge 900 ] || why+=" kubectl did not retry after 503 + Retry-After: '$out' in $dt ms;"
req POST /_test/delay '{"ms":600,"count":1,"match":"^GET /api/v1/namespaces/default/configmaps/w3"}'
t=$(ms)
req GET /api/v1/namespaces/default/configmaps/w3
dt=$(($(ms) - t))
[ $dt -ge 550 ] || why+=" delay: answered in $dt ms;"
verdict fault_injection_reaches_client

# ---- 14. drop-watches cuts streams mid-way ----
why=""
watch_to "$tmp/w14" "/api/v1/namespaces/default/configmaps?watch=1"
wait_until 20 open_watches 1 || why+=" the watch never opened;"
req POST /_test/drop-watches
[ "$(jb .dropped)" -ge 1 ] || why+=" dropped $(jb .dropped);"
if wait_until 5 eval '! kill -0 $wpid 2>/dev/null'; then
	wait $wpid
	wrc=$?
	[ $wrc != 0 ] || why+=" curl saw a clean end (exit 0);"
else
	why+=" the stream is still open;"
fi
verdict drop_watches_cuts_streams

# ---- 15. write counters ----
why=""
req POST /_test/reset-counters
req PATCH /api/v1/namespaces/default/pods/smp/status '{"status":{"message":"m1"}}' application/strategic-merge-patch+json
req PATCH /api/v1/namespaces/default/pods/smp/status '{"status":{"message":"m2"}}' application/strategic-merge-patch+json
req POST /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases \
	'{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"e2e-node"},"spec":{"holderIdentity":"e2e-node","leaseDurationSeconds":40,"renewTime":"2025-01-01T00:00:00.000000Z"}}'
[ "$code" = 201 ] || why+=" lease: $code $(jb .message);"
req GET /_test/writes
[ "$(jb '.counts["PATCH pods/status"]')" = 2 ] && [ "$(jb '.counts["POST leases"]')" = 1 ] ||
	why+=" counts: $(jb -c .counts);"
[ "$(jb '.recent[0].user')" = kubernetes-admin ] && [ "$(jb '.recent[0].code')" = 200 ] &&
	[ "$(jb '.recent[2].path')" = /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases ] || why+=" recent: $(jb -c .recent);"
verdict write_counters

# ---- 16. kill -9 and restart: objects, resourceVersion and CA survive ----
why=""
req GET /api/v1/namespaces/default/pods/web
web_uid=$(jb .metadata.uid)
req GET /api/v1/namespaces/default/configmaps
rv_before=$(jb .metadata.resourceVersion)
port_before=$(cat "$D/port")
kill -KILL $spid
wait $spid 2>/dev/null
spid=
if start_server "$D"; then
	spid=$started_pid
	[ "$(cat "$D/port")" = "$port_before" ] || why+=" port $port_before -> $(cat "$D/port");"
	req GET /api/v1/namespaces/default/pods/web
	[ "$code" = 200 ] && [ "$(jb .metadata.uid)" = "$web_uid" ] || why+=" web: $code uid $(jb .metadata.uid);"
	req GET /api/v1/namespaces/default/configmaps
	[ "$(jb .metadata.resourceVersion)" = "$rv_before" ] || why+=" rv $rv_before -> $(jb .metadata.resourceVersion);"
	req POST /api/v1/namespaces/default/configmaps '{"metadata":{"name":"after-restart"}}'
	[ "$(jb .metadata.resourceVersion)" = $((rv_before + 1)) ] || why+=" next rv $(jb .metadata.resourceVersion), want $((rv_before + 1));"
	out=$(kc get pod web -o name)
	[ "$out" = pod/web ] || why+=" kubectl with the old kubeconfig: $out;"
	watch_to "$tmp/w16" "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=$((rv_before - 1))"
	wait $wpid
	[ "$(jq -r .object.code "$tmp/w16")" = 410 ] || why+=" watch from before the restart: $(head -c 200 "$tmp/w16");"
else
	why+=" did not restart: $(tail -n 3 "$D/stderr" | tr '\n' ' ');"
fi
verdict restart_keeps_objects_and_rv

# ---- 17. kubectl delete ----
why=""
req POST /api/v1/namespaces/default/pods '{"metadata":{"name":"kd"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}'
out=$(timeout 20 kubectl --kubeconfig "$D/kubeconfig" --cache-dir "$tmp/kcache" delete pod kd --wait=true 2>&1)
[ "$out" = 'pod "kd" deleted' ] || why+=" unbound, waiting: $out;"
t=$(ms)
out=$(kc delete pod fs --grace-period=0 --force)
grep -q 'pod "fs" force deleted' <<<"$out" || why+=" bound, forced: $out;"
out=$(kc delete pod smp --wait=false)
[ "$out" = 'pod "smp" deleted' ] || why+=" smp: $out;"
out=$(kc get pods)
grep -Eq '^smp +1/1 +Terminating' <<<"$out" || why+=" smp not Terminating: $out;"
req DELETE /api/v1/namespaces/default/pods/smp '{"gracePeriodSeconds":0}'
verdict kubectl_delete_pod

# ---- 18. the binding subresource ----
why=""
req POST /api/v1/namespaces/default/pods '{"metadata":{"name":"tobind"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}'
req POST /api/v1/namespaces/default/pods/tobind/binding \
	'{"apiVersion":"v1","kind":"Binding","metadata":{"name":"tobind"},"target":{"apiVersion":"v1","kind":"Node","name":"e2e-node"}}'
[ "$code" = 201 ] || why+=" bind: $code $(jb .message);"
req GET /api/v1/namespaces/default/pods/tobind
[ "$(jb .spec.nodeName)" = e2e-node ] && [ "$(jb '.status.conditions[] | select(.type == "PodScheduled") | .status')" = True ] ||
	why+=" after binding: node '$(jb .spec.nodeName)';"
req POST /api/v1/namespaces/default/pods/tobind/binding \
	'{"apiVersion":"v1","kind":"Binding","metadata":{"name":"tobind"},"target":{"kind":"Node","name":"other"}}'
[ "$code" = 409 ] || why+=" second binding: $code;"
verdict binding_subresource

# ---- 19. admission: mirror pods are left alone, priority classes resolve ----
why=""
req POST /api/v1/namespaces/kube-system/pods '{"metadata":{"name":"etcd-e2e-node","annotations":{"kubernetes.io/config.mirror":"h1",
"kubernetes.io/config.hash":"h1","kubernetes.io/config.source":"file"},"ownerReferences":[{"apiVersion":"v1","kind":"Node",
"name":"e2e-node","uid":"'"$(req GET /api/v1/nodes/e2e-node && jb .metadata.uid)"'","controller":true}]},
"spec":{"nodeName":"e2e-node","priorityClassName":"system-node-critical","containers":[{"name":"etcd","image":"busybox:1.36"}]}}'
[ "$code" = 201 ] && [ "$(jb .spec.priority)" = 2000001000 ] && [ "$(jb '.spec.serviceAccountName // "none"')" = none ] ||
	why+=" mirror pod: $code priority=$(jb .spec.priority) sa=$(jb .spec.serviceAccountName) $(jb .message);"
req POST /api/v1/namespaces/default/pods '{"metadata":{"name":"gold"},"spec":{"priorityClassName":"gold","containers":[{"name":"c","image":"busybox"}]}}'
[ "$code" = 403 ] && [ "$(jb .reason)" = Forbidden ] || why+=" unknown priority class: $code;"
req POST /api/v1/namespaces/default/pods '{"metadata":{"name":"nosa"},"spec":{"serviceAccountName":"nosa","containers":[{"name":"c","image":"busybox"}]}}'
[ "$code" = 403 ] || why+=" missing service account: $code;"
verdict admission_mirror_pods_and_priority

# ---- 20. --scheduler binds once a node is ready ----
why=""
D2=$tmp/sched
if start_server "$D2" --port 0 --scheduler; then
	s2pid=$started_pid
	D_main=$D
	D=$D2
	req POST /api/v1/nodes "$NODE_JSON"
	req POST /api/v1/nodes "$(jq -c '.metadata.name = "a-tainted" | .spec.taints = [{"key":"dedicated","value":"x","effect":"NoSchedule"}]' <<<"$NODE_JSON")"
	req PATCH /api/v1/nodes/a-tainted/status "$NODE_READY_PATCH" application/strategic-merge-patch+json
	req POST /api/v1/namespaces/default/pods '{"metadata":{"name":"s1"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}'
	wait_until 10 eval 'req GET /api/v1/namespaces/default/pods/s1; [ "$(jb ".status.conditions[0].reason")" = Unschedulable ]'
	[ "$(jb '.spec.nodeName // ""')" = "" ] && [ "$(jb '.status.conditions[0].reason')" = Unschedulable ] ||
		why+=" bound before any node was ready and tolerated: '$(jb .spec.nodeName)' $(jb -c .status);"
	req PATCH /api/v1/nodes/e2e-node/status "$NODE_READY_PATCH" application/strategic-merge-patch+json
	if wait_until 10 eval 'req GET /api/v1/namespaces/default/pods/s1; [ "$(jb .spec.nodeName)" = e2e-node ]'; then
		[ "$(jb '.status.conditions[] | select(.type == "PodScheduled") | .status')" = True ] || why+=" no PodScheduled=True;"
		req GET "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Ds1,reason%3DScheduled"
		[ "$(jb '.items | length')" = 1 ] || why+=" Scheduled events: $(jb '.items | length');"
	else
		why+=" not bound 10 s after the node got ready: '$(jb .spec.nodeName)';"
	fi
	D=$D_main
	stop_pid "$s2pid" TERM
	s2pid=
else
	why+=" the scheduling server did not start: $(tail -n 3 "$D2/stderr" | tr '\n' ' ')"
fi
verdict scheduler_binds_when_node_ready

# ---- 21. SIGTERM ----
why=""
kill -TERM $spid
for ((i = 0; i < 200; i++)); do kill -0 $spid 2>/dev/null || break; sleep 0.05; done
if kill -0 $spid 2>/dev/null; then
	why+=" still running 10 s after SIGTERM;"
else
	wait $spid
	rc=$?
	[ $rc = 0 ] || why+=" exit status $rc;"
	[ ! -e "$D/pid" ] || why+=" pid file left;"
fi
spid=
verdict sigterm_exits_cleanly

note "whole suite $(($(ms) - t0)) ms"
[ $nfail -eq 0 ]
