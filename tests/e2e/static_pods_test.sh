#!/usr/bin/env bash
# Static pods end to end: ledgerlet runs the manifests of a directory on the real
# containerd of scripts/runtime.sh, and the runtime (ctr) and the journal
# (journal-replay --status, read while the daemon writes) say what happened: a web
# server gets Ready, an init container completes before its app, a crash loop backs
# off, a missing image backs off, a changed manifest replaces its pod and a removed
# one leaves nothing, bad manifests are named in the log and do not stop the others,
# kill -9 at random moments neither duplicates nor restarts anything, and a
# container that ignores SIGTERM is killed when its grace period ends. Probes of each
# kind (httpGet to busybox httpd, tcpSocket to nc, exec) on the pod's IP: passing ones
# make the pod Ready, a failing readiness probe makes it NotReady without a restart,
# a failing liveness probe restarts the container. A 10 MiB manifest and a symbolic
# link loop, there at the start or written while it runs, are named in the log and
# not run.
# Prints "pass e2e/static/NAME" / "fail e2e/static/NAME: why" lines; "# ..." lines
# are timings and notes. Needs root. Holds the runtime test lock shared; leaves the
# runtime running.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
bin=build/ledgerlet
replay=build/journal-replay
tmp=$(mktemp -d /tmp/ledgerlet-static-e2e.XXXXXX)
J=$tmp/journal
M=$tmp/manifests
LOG=$tmp/ledgerlet.log
NODE=e2e
lpid=

pass() { echo "pass e2e/static/$1"; }
nfail=0
fail() { echo "fail e2e/static/$1: $2"; nfail=$((nfail + 1)); }
ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
note() { echo "# $*"; }

# ---- the daemon ----
start_ll() {
	# fd 7 (the runtime test lock) must not live on in the daemon
	$bin --journal-dir "$J" --hostname-override "$NODE" --pod-manifest-path "$M" \
		--container-runtime-endpoint "$LEDGERLET_CRI_ENDPOINT" >>"$LOG" 2>&1 7>&- &
	lpid=$!
}
stop_ll() {
	[ -n "$lpid" ] || return 0
	kill -TERM "$lpid" 2>/dev/null
	local i
	for ((i = 0; i < 100; i++)); do kill -0 "$lpid" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	lpid=
}
cleanup() {
	# on an early exit: let ledgerlet remove the pods, then stop it
	if [ -n "$lpid" ] && kill -0 "$lpid" 2>/dev/null; then
		rm -f "$M"/* 2>/dev/null
		wait_until 20 no_e2e_tasks
		stop_ll
	fi
	[ -z "${LEDGERLET_E2E_KEEP_JOURNAL:-}" ] || cp -a "$J" "$LEDGERLET_E2E_KEEP_JOURNAL"
	rm -rf "$tmp"
}
trap cleanup EXIT

# wait_until <seconds> <command...>
wait_until() {
	local end=$(($(ms) + $1 * 1000))
	shift
	while ! "$@"; do
		[ "$(ms)" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# ---- the journal's view: the pods' status ----
refresh() { "$replay" "$J" --status >"$tmp/st" 2>/dev/null; }
# jqp <pod> <jq filter on the pod's status object>: prints the result
jqp() { jq -r --arg n "$1-$NODE" "select(.name == \$n) | .status | $2" "$tmp/st" 2>/dev/null; }
uid_of() { jq -r --arg n "$1-$NODE" 'select(.name == $n) | .uid' "$tmp/st" 2>/dev/null; }
# cstate <pod> <container>: "running", "waiting:REASON", "terminated:REASON" or ""
cstate() {
	jqp "$1" "((.initContainerStatuses // []) + (.containerStatuses // []))[] | select(.name == \"$2\") |
		.state | to_entries[0] | .key + (if .value.reason then \":\" + .value.reason else \"\" end)"
}
cfield() {
	jqp "$1" "((.initContainerStatuses // []) + (.containerStatuses // []))[] | select(.name == \"$2\") | .$3"
}
is_ready() {
	[ "$(jqp "$1" '.phase')" = Running ] &&
		[ "$(jqp "$1" '.conditions[] | select(.type == "Ready") | .status')" = True ]
}

# ---- the runtime's view ----
ctr_() { timeout 20 ctr --address "$LEDGERLET_CONTAINERD_SOCK" --connect-timeout 2s -n k8s.io "$@"; }
# containers of a pod uid, of a kind (sandbox | container)
ctrs_of() { ctr_ containers ls -q "labels.\"io.kubernetes.pod.uid\"==$1,labels.\"io.cri-containerd.kind\"==$2" 2>/dev/null; }
running_tasks() { ctr_ tasks ls 2>/dev/null | awk '$3 == "RUNNING" { print $1 }'; }
# running_of <uid> <kind>: the running tasks of that pod and kind
running_of() { comm -12 <(ctrs_of "$1" "$2" | sort) <(running_tasks | sort); }
e2e_ctrs() { ctr_ containers ls -q "labels.\"io.kubernetes.pod.name\"~=\"-$NODE\$\"" 2>/dev/null; }
no_e2e_tasks() { [ -z "$(comm -12 <(e2e_ctrs | sort) <(running_tasks | sort))" ]; }
none_of() { [ -z "$(ctrs_of "$1" sandbox)$(ctrs_of "$1" container)" ]; }

# ---- setup ----
if [ "$(id -u)" != 0 ]; then
	fail setup "needs root (containerd, runc, mounts, network)"
	exit 0
fi
if [ ! -x "$bin" ] || [ ! -x "$replay" ]; then
	fail setup "$bin or $replay is not built (make)"
	exit 0
fi
eval "$(scripts/runtime.sh env | sed 's/^/export /')"
mkdir -p "$LEDGERLET_RUNTIME_RUN_DIR"
exec 7>"$LEDGERLET_RUNTIME_TEST_LOCK"
if ! flock -s -w 300 7; then
	fail setup "$LEDGERLET_RUNTIME_TEST_LOCK still held exclusive after 300 s"
	exit 0
fi
t=$(ms)
if ! out=$(timeout 120 scripts/runtime.sh start 2>&1 7>&- && timeout 180 scripts/images.sh 2>&1 7>&-); then
	for n in web_pod_runs_and_is_ready init_container_completes_first crash_loop_backs_off \
		missing_image_backs_off changed_manifest_replaces_and_removed_manifest_cleans \
		bad_manifests_are_named big_and_looping_manifests_not_run survives_kill9 \
		grace_period_kills_sigterm_ignorer probes_pass_make_pod_ready \
		readiness_fail_httpget_not_ready_no_restart readiness_fail_tcpsocket_not_ready_no_restart \
		readiness_fail_exec_not_ready_no_restart liveness_fail_httpget_restarts \
		liveness_fail_tcpsocket_restarts liveness_fail_exec_restarts; do
		fail $n "the runtime did not start: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
	done
	exit 0
fi
note "runtime and images ready $(($(ms) - t)) ms"
mkdir -p "$M"

IMG=$LEDGERLET_IMAGE_BUSYBOX
LOOP="trap 'exit 0' TERM; while true; do sleep 1; done"
pod() { # pod <name> <grace> <spec body (containers...)>
	printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  terminationGracePeriodSeconds: %s\n%s\n' "$1" "$2" "$3"
}
pod web 2 "  hostNetwork: false
  containers:
  - name: httpd
    image: $IMG
    command: [\"/bin/sh\", \"-c\", \"echo ok > /tmp/index.html; exec /bin/httpd -f -p 8080 -h /tmp\"]
    ports:
    - containerPort: 8080
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1" >"$M/web.yaml"
pod initapp 1 "  initContainers:
  - name: setup
    image: $IMG
    command: [\"/bin/sh\", \"-c\", \"echo preparing; sleep 2\"]
  containers:
  - name: app
    image: $IMG
    command: [\"/bin/sh\", \"-c\", \"$LOOP\"]" >"$M/initapp.yaml"
pod crash 1 "  containers:
  - name: app
    image: $IMG
    command: [\"/bin/sh\", \"-c\", \"echo starting; sleep 1; exit 3\"]" >"$M/crash.yaml"
pod nope 1 "  containers:
  - name: app
    image: 127.0.0.1:5000/nope:1" >"$M/nope.yaml"
pod sleeper 1 "  containers:
  - name: app
    image: $IMG
    command: [\"/bin/sh\", \"-c\", \"$LOOP\"]" >"$M/sleeper.yaml"
pod chg 1 "  containers:
  - name: app
    image: $IMG
    command: [\"/bin/sh\", \"-c\", \"echo v1; $LOOP\"]" >"$M/chg.yaml"
# probes of each kind, on the pod's IP; the test turns each on and off from inside the
# container (ctr tasks exec): the files /www/ready and /www/live that httpd serves,
# /tmp/r-off and /tmp/l-off that stop the nc listeners, /tmp/ready and /tmp/live.
# Timeouts of 3 s and two failures to NotReady: a loaded machine (an ExecSync can take
# more than the default 1 s) must not fail a probe the test did not break.
sed "s|@IMG@|$IMG|" >"$M/probes.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: probes
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: @IMG@
    command: ["/bin/sh", "-c", "mkdir -p /www; echo ok > /www/ready; echo ok > /www/live; exec /bin/httpd -f -p 8080 -h /www"]
    readinessProbe:
      httpGet: {path: /ready, port: 8080}
      periodSeconds: 1
      timeoutSeconds: 3
      failureThreshold: 2
    livenessProbe:
      httpGet: {path: /live, port: 8080}
      periodSeconds: 1
      timeoutSeconds: 3
      failureThreshold: 3
  - name: tcp
    image: @IMG@
    command:
    - /bin/sh
    - -c
    - |
      trap 'exit 0' TERM
      r= l=
      while true; do
        if [ -f /tmp/r-off ]; then [ -z "$r" ] || { kill $r; r=; }
        elif [ -z "$r" ]; then /bin/nc -ll -p 9090 -e /bin/true & r=$!; fi
        if [ -f /tmp/l-off ]; then [ -z "$l" ] || { kill $l; l=; }
        elif [ -z "$l" ]; then /bin/nc -ll -p 9091 -e /bin/true & l=$!; fi
        sleep 0.2
      done
    readinessProbe:
      tcpSocket: {port: 9090}
      periodSeconds: 1
      timeoutSeconds: 3
      failureThreshold: 2
    livenessProbe:
      tcpSocket: {port: 9091}
      periodSeconds: 1
      timeoutSeconds: 3
      failureThreshold: 3
  - name: exec
    image: @IMG@
    command: ["/bin/sh", "-c", "touch /tmp/ready /tmp/live; trap 'exit 0' TERM; while true; do sleep 1; done"]
    readinessProbe:
      exec: {command: ["/bin/test", "-f", "/tmp/ready"]}
      periodSeconds: 1
      timeoutSeconds: 3
      failureThreshold: 2
    livenessProbe:
      exec: {command: ["/bin/test", "-f", "/tmp/live"]}
      periodSeconds: 1
      timeoutSeconds: 3
      failureThreshold: 3
EOF
# the bad ones
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n  spec: : :\n' >"$M/bad-yaml.yaml"
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: deploy\nspec:\n  replicas: 1\n' >"$M/deploy.yaml"
pod nocont 1 "  containers: []" >"$M/nocont.yaml"
pod dup 1 "  containers:
  - name: a
    image: $IMG
  - name: a
    image: $IMG" >"$M/dup.yaml"
{ pod big 1 "  containers:
  - name: a
    image: $IMG"; yes '# padding padding padding padding padding padding padding padding' | head -c 10485760; } >"$M/big.yaml"
ln -s loop-b.yaml "$M/loop-a.yaml"
ln -s loop-a.yaml "$M/loop-b.yaml"

t0=$(ms)
start_ll

# ---- 1. a web server: Running, Ready, its name, its log file ----
if wait_until 40 eval 'refresh && is_ready web'; then
	note "web ready after $(($(ms) - t0)) ms"
	uid=$(uid_of web)
	log=/var/log/pods/default_web-${NODE}_$uid/httpd/0.log
	if [ -n "$uid" ] && [ -f "$log" ]; then pass web_pod_runs_and_is_ready
	else fail web_pod_runs_and_is_ready "ready, uid '$uid', but no log file $log"; fi
else
	fail web_pod_runs_and_is_ready "not Running and Ready after 40 s: $(jqp web '.' | tr -d '\n' | head -c 600); log: $(tail -n 5 "$LOG" | tr '\n' ' ')"
fi

# ---- 2. init container, then the app ----
if wait_until 30 eval 'refresh && [ "$(cstate initapp setup)" = terminated:Completed ] && [ "$(cstate initapp app)" = running ]'; then
	fin=$(cfield initapp setup 'state.terminated.finishedAt')
	st=$(cfield initapp app 'state.running.startedAt')
	if [ -n "$fin" ] && [ -n "$st" ] && [[ ! "$st" < "$fin" ]]; then pass init_container_completes_first
	else fail init_container_completes_first "init finished at '$fin', app started at '$st'"; fi
	note "init then app after $(($(ms) - t0)) ms"
else
	fail init_container_completes_first "setup '$(cstate initapp setup)', app '$(cstate initapp app)' after 30 s"
fi

# ---- 3. crash loop, and 4. missing image (watched together: both come and go) ----
seen_backoff=0 seen_err=0 seen_pbo=0 crash_ms= pull_ms=
both_done() {
	refresh
	[ "$(cstate crash app)" = waiting:CrashLoopBackOff ] && seen_backoff=1
	if [ -z "$crash_ms" ] && [ $seen_backoff = 1 ] && [ "$(cfield crash app restartCount)" -ge 2 ] 2>/dev/null; then
		crash_ms=$(($(ms) - t0))
	fi
	case $(cstate nope app) in
	waiting:ErrImagePull) seen_err=1 ;;
	waiting:ImagePullBackOff) [ $seen_err = 1 ] && seen_pbo=1 ;;
	esac
	[ -z "$pull_ms" ] && [ $seen_pbo = 1 ] && pull_ms=$(($(ms) - t0))
	[ -n "$crash_ms" ] && [ -n "$pull_ms" ]
}
wait_until 45 both_done
if [ -n "$crash_ms" ]; then
	pass crash_loop_backs_off
	note "crash loop: CrashLoopBackOff and restartCount >= 2 after $crash_ms ms"
else
	fail crash_loop_backs_off "CrashLoopBackOff seen: $seen_backoff, restartCount '$(cfield crash app restartCount)', state '$(cstate crash app)'"
fi
if [ -n "$pull_ms" ]; then
	pass missing_image_backs_off
	note "ErrImagePull then ImagePullBackOff after $pull_ms ms"
else
	fail missing_image_backs_off "ErrImagePull seen $seen_err, ImagePullBackOff after it $seen_pbo; now '$(cstate nope app)'"
fi
nope_uid=$(uid_of nope)
rm -f "$M/nope.yaml"

# ---- 4b. probes of each kind: exec, httpGet, tcpSocket ----
nexec=0
# pexec <container> <shell command>: runs it in that container of the probes pod
pexec() {
	local id
	id=$(cfield probes "$1" containerID)
	id=${id#containerd://}
	[ -n "$id" ] || return 1
	nexec=$((nexec + 1))
	ctr_ tasks exec --exec-id "e2e-probe-$nexec-$$" "$id" /bin/sh -c "$2" >/dev/null 2>&1
}
pod_ready() { [ "$(jqp probes '.conditions[] | select(.type == "Ready") | .status')" = True ]; }
cready() { [ "$(cfield probes "$1" ready)" = true ]; }
all_ready() {
	refresh && [ "$(jqp probes .phase)" = Running ] && pod_ready && cready web && cready tcp && cready exec
}
probe_status() { jqp probes '[.conditions[] | "\(.type)=\(.status)"] + [.containerStatuses[] | "\(.name): \(.state | keys[0]) ready=\(.ready) restarts=\(.restartCount)"] | join(", ")'; }
t=$(ms)
probes_ok=0
if wait_until 30 all_ready; then
	ip=$(jqp probes .podIP)
	net=${LEDGERLET_POD_SUBNET%.*/*} # 10.244.77.0/24 -> 10.244.77 (the bridge's /24)
	if [[ "$ip" == "$net".* ]]; then
		pass probes_pass_make_pod_ready
		probes_ok=1
	else
		fail probes_pass_make_pod_ready "Ready, but its podIP '$ip' is not on the test bridge ($LEDGERLET_POD_SUBNET)"
	fi
	note "probes pod Ready on $ip ($(($(ms) - t0)) ms after the start)"
else
	fail probes_pass_make_pod_ready "not Ready after 30 s: $(probe_status)"
fi

# readiness_case <test> <container> <command that fails its readiness> <command that mends it>
readiness_case() {
	local n=$1 c=$2 id0 rc0 t dt why="" o
	if [ $probes_ok = 0 ]; then fail "$n" "the probes pod never got Ready"; return; fi
	refresh
	id0=$(cfield probes "$c" containerID)
	rc0=$(cfield probes "$c" restartCount)
	if ! pexec "$c" "$3"; then fail "$n" "cannot exec in $c ($id0)"; return; fi
	t=$(ms)
	if ! wait_until 15 eval 'refresh && ! cready '"$c"' && ! pod_ready'; then
		fail "$n" "still Ready 15 s after its readiness probe began to fail: $(probe_status)"
		pexec "$c" "$4"
		wait_until 15 all_ready
		return
	fi
	dt=$(($(ms) - t))
	# NotReady, and so it stays while the probe fails: running, not restarted, the
	# other containers ready
	sleep 2
	refresh
	cready "$c" && why+=" ready again while its probe fails;"
	pod_ready && why+=" the pod is Ready while a container is not;"
	[ "$(cstate probes "$c")" = running ] || why+=" $c is '$(cstate probes "$c")', not running;"
	[ "$(cfield probes "$c" containerID)" = "$id0" ] || why+=" restarted: container $id0 -> $(cfield probes "$c" containerID);"
	[ "$(cfield probes "$c" restartCount)" = "$rc0" ] || why+=" restartCount $rc0 -> $(cfield probes "$c" restartCount);"
	for o in web tcp exec; do
		[ "$o" = "$c" ] || cready "$o" || why+=" $o is not ready either;"
	done
	pexec "$c" "$4" || why+=" cannot exec in $c to mend it;"
	t=$(ms)
	if wait_until 15 all_ready; then
		note "$n: NotReady $dt ms after the probe began to fail, Ready $(($(ms) - t)) ms after it passed again"
		[ "$(cfield probes "$c" containerID)" = "$id0" ] || why+=" restarted on the way back: $(cfield probes "$c" containerID);"
	else
		why+=" not Ready 15 s after the probe passed again: $(probe_status);"
	fi
	if [ -z "$why" ]; then pass "$n"; else fail "$n" "${why# }"; fi
}
readiness_case readiness_fail_httpget_not_ready_no_restart web 'rm /www/ready' 'echo ok > /www/ready'
readiness_case readiness_fail_tcpsocket_not_ready_no_restart tcp 'touch /tmp/r-off' 'rm /tmp/r-off'
readiness_case readiness_fail_exec_not_ready_no_restart exec 'rm /tmp/ready' 'touch /tmp/ready'

# liveness: the three fail at once; each container is restarted once, with the one
# killed as its lastState, and the pod is Ready again (the new containers pass)
if [ $probes_ok = 0 ]; then
	for k in httpget tcpsocket exec; do fail liveness_fail_${k}_restarts "the probes pod never got Ready"; done
else
	declare -A lid0 lrc0
	refresh
	for c in web tcp exec; do
		lid0[$c]=$(cfield probes $c containerID)
		lrc0[$c]=$(cfield probes $c restartCount)
	done
	pexec web 'rm /www/live'
	pexec tcp 'touch /tmp/l-off'
	pexec exec 'rm /tmp/live'
	t=$(ms)
	restarted() {
		[ "$(cfield probes "$1" containerID)" != "${lid0[$1]}" ] && [ "$(cstate probes "$1")" = running ] &&
			[ "$(cfield probes "$1" restartCount)" -gt "${lrc0[$1]}" ] 2>/dev/null
	}
	wait_until 45 eval 'all_ready && restarted web && restarted tcp && restarted exec'
	note "liveness: restarted and Ready again after $(($(ms) - t)) ms"
	tl=$("$replay" "$J" --timeline --pod "default/probes-$NODE" 2>&1)
	for c in web tcp exec; do
		case $c in web) k=httpget ;; tcp) k=tcpsocket ;; exec) k=exec ;; esac
		why=""
		rc=$(cfield probes $c restartCount)
		[ "$rc" = $((lrc0[$c] + 1)) ] 2>/dev/null || why+=" restartCount '$rc', was ${lrc0[$c]} (want one restart);"
		[ "$(cstate probes $c)" = running ] || why+=" state '$(cstate probes $c)';"
		cready $c || why+=" not ready;"
		last=$(cfield probes $c 'lastState.terminated | "\(.containerID) \(.reason) \(.exitCode)"')
		[ "${last%% *}" = "${lid0[$c]}" ] || why+=" lastState.terminated is of '${last%% *}', not of the killed ${lid0[$c]};"
		reason=$(cut -d' ' -f2 <<<"$last")
		[ -n "$reason" ] && [ "$reason" != null ] || why+=" lastState has no reason ('$last');"
		# the journal says why: a liveness probe's result stopped it (the event that
		# decided probe.stop of its liveness probe and cri.stop_container, same attempt)
		awk -v c="$c" -v a="${lrc0[$c]}" '
			/^[0-9][0-9][0-9][0-9]-/ { probe = ($0 ~ / probe  /); pl = 0; next }
			probe && index($0, "probe.stop probe-liveness/") && index($0, "/" c "/" a) { pl = 1 }
			pl && index($0, "cri.stop_container stop/") && index($0, "/" c "/" a " ") { found = 1 }
			END { exit !found }' <<<"$tl" ||
			why+=" the journal's timeline has no liveness result that stopped $c attempt ${lrc0[$c]};"
		if [ -z "$why" ]; then
			pass liveness_fail_${k}_restarts
			note "$c: lastState.terminated reason $reason, exit code ${last##* }"
		else
			fail liveness_fail_${k}_restarts "${why# } status: $(probe_status)"
		fi
	done
fi
rm -f "$M/probes.yaml"

# ---- 5. a changed manifest replaces its pod; a removed one leaves nothing ----
t=$(ms)
refresh
old=$(uid_of chg)
if [ -z "$old" ] || ! wait_until 20 eval '[ -n "$(running_of "$old" sandbox)" ] && [ -n "$(running_of "$old" container)" ]'; then
	fail changed_manifest_replaces_and_removed_manifest_cleans "chg (uid '$old') never ran"
else
	sed -i 's/echo v1/echo v2/' "$M/chg.yaml"
	new=
	new_runs() {
		refresh
		new=$(uid_of chg)
		[ -n "$new" ] && [ "$new" != "$old" ] && [ "$(cstate chg app)" = running ] &&
			[ -n "$(running_of "$new" sandbox)" ] && [ -n "$(running_of "$new" container)" ]
	}
	if ! wait_until 30 new_runs; then
		fail changed_manifest_replaces_and_removed_manifest_cleans "after the change: uid '$new' (was $old), app '$(cstate chg app)'"
	elif ! wait_until 20 none_of "$old"; then
		fail changed_manifest_replaces_and_removed_manifest_cleans "the old pod $old still has in the runtime: $(ctrs_of "$old" sandbox) $(ctrs_of "$old" container)"
	else
		note "changed manifest: replaced in $(($(ms) - t)) ms"
		t=$(ms)
		rm -f "$M/chg.yaml"
		if ! wait_until 20 none_of "$new"; then
			fail changed_manifest_replaces_and_removed_manifest_cleans "removed manifest: pod $new still has $(ctrs_of "$new" sandbox) $(ctrs_of "$new" container)"
		elif [ -n "$nope_uid" ] && ! wait_until 10 none_of "$nope_uid"; then
			fail changed_manifest_replaces_and_removed_manifest_cleans "removed manifest nope: pod $nope_uid still has $(ctrs_of "$nope_uid" sandbox)"
		else
			note "removed manifest: cleaned in $(($(ms) - t)) ms"
			pass changed_manifest_replaces_and_removed_manifest_cleans
		fi
	fi
fi

# ---- 6. bad manifests are named, and the good pods still run ----
bad=""
check_bad() { # <file> <regexp for the problem>
	local line
	line=$(grep -F "$M/$1" "$LOG" | head -n 1)
	if [ -z "$line" ]; then bad+=" $1: no log line;"
	elif ! grep -qiE "$2" <<<"$line"; then bad+=" $1: '$line' does not say the problem;"
	fi
	note "$1: ${line:-(nothing)}"
}
check_bad bad-yaml.yaml 'yaml|parse|syntax|flow|unexpected|expected'
check_bad deploy.yaml 'kind|Deployment'
check_bad nocont.yaml 'container'
check_bad dup.yaml 'duplicate|twice|more than once|unique'
check_bad big.yaml 'large|size|big|bytes|MiB|KiB|limit'
if grep -qF "$M/loop-a.yaml" "$LOG"; then check_bad loop-a.yaml 'loop|symbolic|too many levels'
else check_bad loop-b.yaml 'loop|symbolic|too many levels'; fi
refresh
if [ -z "$bad" ] && is_ready web && [ "$(jqp sleeper .phase)" = Running ]; then pass bad_manifests_are_named
else fail bad_manifests_are_named "${bad:-the good pods do not run: web '$(jqp web .phase)', sleeper '$(jqp sleeper .phase)'}"; fi

# ---- 6b. a 10 MiB manifest and symbolic link loops: named and not run, whether
# there at the start (big.yaml, loop-a/b) or written while ledgerlet runs ----
{ pod lbig 1 "  containers:
  - name: a
    image: $IMG
    command: [\"/bin/sh\", \"-c\", \"$LOOP\"]"; yes '# padding padding padding padding padding padding padding padding' | head -c 10485760; } >"$M/.late-big.tmp"
mv "$M/.late-big.tmp" "$M/late-big.yaml" # whole: a half-written file is another test
ln -s late-self.yaml "$M/late-self.yaml"
ln -s late-loop-b.yaml "$M/late-loop-a.yaml"
ln -s late-loop-a.yaml "$M/late-loop-b.yaml"
bad=""
# named <file> <regexp>: a log line names the file and says the problem
named() { grep -F "$M/$1" "$LOG" | grep -qiE "$2"; }
if ! wait_until 10 eval 'named late-big.yaml "bytes|size|large|limit" && named late-self.yaml "loop|symbolic" && named late-loop-b.yaml "loop|symbolic"'; then
	for f in late-big.yaml late-self.yaml late-loop-b.yaml; do
		named $f 'bytes|size|large|limit|loop|symbolic' ||
			bad+=" $f: no log line names it with its problem ($(grep -F "$M/$f" "$LOG" | tail -n 1));"
	done
fi
for f in late-big.yaml late-self.yaml late-loop-a.yaml late-loop-b.yaml; do
	note "$f: $(grep -F "$M/$f" "$LOG" | tail -n 1)"
done
sleep 1
refresh
for p in big lbig; do
	[ -z "$(uid_of $p)" ] || bad+=" pod $p-$NODE is in the status;"
	[ -z "$(ctr_ containers ls -q "labels.\"io.kubernetes.pod.name\"==$p-$NODE" 2>/dev/null)" ] ||
		bad+=" the runtime has containers of $p-$NODE;"
done
n=$(jq -s 'length' "$tmp/st" 2>/dev/null)
# the good pods run on
for p in web initapp crash sleeper; do [ -n "$(uid_of $p)" ] || bad+=" pod $p is not in the status;"; done
is_ready web || bad+=" web is not Ready;"
[ "$(jqp sleeper .phase)" = Running ] || bad+=" sleeper is '$(jqp sleeper .phase)';"
[ "$(cstate initapp app)" = running ] || bad+=" initapp/app is '$(cstate initapp app)';"
if [ -z "$bad" ]; then pass big_and_looping_manifests_not_run
else fail big_and_looping_manifests_not_run "${bad# } ($n pods in the status)"; fi
rm -f "$M"/late-*.yaml
rm -f "$M"/bad-yaml.yaml "$M"/deploy.yaml "$M"/nocont.yaml "$M"/dup.yaml "$M"/big.yaml "$M"/loop-*.yaml

# ---- 7. kill -9 at random moments ----
t=$(ms)
wait_until 20 eval 'refresh && is_ready web && [ "$(jqp sleeper .phase)" = Running ] && [ "$(cstate initapp app)" = running ]'
web_id=$(cfield web httpd containerID)
web_rc=$(cfield web httpd restartCount)
pods7="web initapp crash sleeper"
declare -A uid7
for p in $pods7; do uid7[$p]=$(uid_of "$p"); done
kills=""
for k in 1 2 3 4 5; do
	d=$((200 + RANDOM % 2800))
	kills+=" ${d}ms"
	sleep "$((d / 1000)).$(printf %03d $((d % 1000)))"
	kill -9 "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	start_ll
done
note "killed after$kills; settling 10 s"
sleep 10
refresh
why=""
kill -0 "$lpid" 2>/dev/null || why+=" ledgerlet is not running ($(tail -n 3 "$LOG" | tr '\n' ' '));"
running=$(running_tasks | sort)
known=""
for p in $pods7; do
	u=${uid7[$p]}
	[ "$(uid_of "$p")" = "$u" ] || why+=" $p: uid '$(uid_of "$p")', was '$u';"
	n=$(running_of "$u" sandbox | grep -c .)
	all=$(ctrs_of "$u" sandbox | grep -c .)
	[ "$n" = 1 ] || why+=" $p: $n running sandboxes ($all in all);"
	known+=" $(running_of "$u" sandbox)"
	for c in $(jqp "$p" '((.initContainerStatuses // []) + (.containerStatuses // []))[] | select(.state.running) | .containerID'); do
		known+=" ${c#containerd://}"
	done
done
orphans=$(comm -23 <(comm -12 <(e2e_ctrs | sort) <(echo "$running")) <(tr ' ' '\n' <<<"$known" | grep . | sort))
# the label filter itself must see our pods (else the orphan check proves nothing)
n=$(comm -12 <(e2e_ctrs | sort) <(echo "$running") | grep -c .)
[ "$n" -ge 4 ] || why+=" ctr sees only $n running containers of *-$NODE pods;"
[ -z "$orphans" ] || why+=" running containers of no pod: $(tr '\n' ' ' <<<"$orphans");"
[ -n "$web_id" ] && [ "$(cfield web httpd containerID)" = "$web_id" ] ||
	why+=" httpd container id '$(cfield web httpd containerID)', was '$web_id';"
[ "$(cfield web httpd restartCount)" = 0 ] && [ "$web_rc" = 0 ] ||
	why+=" httpd restartCount '$(cfield web httpd restartCount)' (was '$web_rc');"
is_ready web || why+=" web is not Ready;"
if ! vout=$("$replay" "$J" --verify 2>&1); then why+=" journal-replay --verify: $(tail -n 3 <<<"$vout" | tr '\n' ' ');"; fi
if [ -z "$why" ]; then pass survives_kill9
else fail survives_kill9 "${why# }"; fi
note "kill -9 test $(($(ms) - t)) ms"

# ---- 8. a container that ignores SIGTERM is killed when its grace period ends ----
pod stubborn 3 "  containers:
  - name: app
    image: $IMG
    command: [\"/bin/sh\", \"-c\", \"trap '' TERM; sleep 3600\"]" >"$M/stubborn.yaml"
if wait_until 30 eval 'refresh && [ "$(cstate stubborn app)" = running ]' &&
	su=$(uid_of stubborn) && cid=$(running_of "$su" container) && [ -n "$cid" ]; then
	sleep 1
	t=$(ms)
	rm -f "$M/stubborn.yaml"
	# stopped: the runtime answers, and says so (a ctr that failed under load must not
	# read as "not running")
	stopped() {
		local st
		if [ -x build/llt-cri ]; then
			st=$(build/llt-cri containers --prefix stubborn- 2>/dev/null) || return 1
			[ "$(awk -v c="$cid" '$1 == c { print $2 }' <<<"$st")" != CONTAINER_RUNNING ]
		else
			st=$(ctr_ tasks ls 2>/dev/null) || return 1
			! awk '$3 == "RUNNING" { print $1 }' <<<"$st" | grep -qx "$cid"
		fi
	}
	if wait_until 15 stopped; then
		dt=$(($(ms) - t))
		note "SIGTERM ignorer stopped ${dt} ms after its manifest went"
		if [ $dt -ge 2500 ] && [ $dt -le 8000 ]; then pass grace_period_kills_sigterm_ignorer
		else fail grace_period_kills_sigterm_ignorer "stopped after $dt ms, want 2500..8000 (grace 3 s)"; fi
	else
		fail grace_period_kills_sigterm_ignorer "still running 15 s after its manifest went"
	fi
else
	fail grace_period_kills_sigterm_ignorer "never ran: state '$(cstate stubborn app)'"
fi

# ---- the end: remove the pods through ledgerlet, then stop it ----
t=$(ms)
rm -f "$M"/*
if wait_until 30 eval 'no_e2e_tasks && [ -z "$(e2e_ctrs)" ]'; then note "pods removed in $(($(ms) - t)) ms"
else note "after 30 s the runtime still has: $(e2e_ctrs | tr '\n' ' ')"; fi
stop_ll
[ $nfail -eq 0 ] || tail -n 40 "$LOG" | sed 's/^/#   | /'
[ -z "${LEDGERLET_E2E_KEEP_LOG:-}" ] || cp "$LOG" "$LEDGERLET_E2E_KEEP_LOG"
note "whole suite $(($(ms) - t0)) ms"
[ $nfail -eq 0 ]
