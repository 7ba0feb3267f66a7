#!/usr/bin/env bash
# The node survives crashes, end to end on the real containerd of scripts/runtime.sh.
#
# 1. kill -9: 20 static pods start and churn (stable ones, crash loops, containers that
#    exit and are restarted, pods that complete or fail, manifests changed, removed and
#    added while it runs, some while ledgerlet is down); ledgerlet is killed with
#    SIGKILL at 10 random moments (seeded: the "# seed N" line; LEDGERLET_CRASH_SEED=N
#    replays the same delays and churn). After each restart the node must converge,
#    judged by the runtime's own lists (build/llt-cri, CRI ListPodSandbox and
#    ListContainers) beside the journal's status (journal-replay --status): at most
#    one ready sandbox per pod uid and one non-exited container per (pod uid,
#    container), and never two ready sandboxes or two running containers at any
#    sample on the way; nothing left of a removed or replaced manifest and nothing of
#    no manifest, the status's running containers
#    the ones the runtime runs with the restartCount it names as their attempt, no
#    container that ran stably before the kill restarted, restart counts never going
#    back, completed containers not run again, and a journal that verifies.
# 2. containerd restarted under a running ledgerlet (holding the runtime test lock
#    exclusive meanwhile): ledgerlet reconnects and relists, no pod is restarted,
#    nothing is duplicated, a manifest added while containerd is down runs once it is
#    back, and the status is what it was.
# 3. All manifests removed: nothing of ours is left in the runtime or the status.
#
# Prints "pass e2e/crash/NAME" / "fail e2e/crash/NAME: why" lines; "# ..." lines are
# timings and notes. Needs root. Holds $LEDGERLET_RUNTIME_TEST_LOCK shared (exclusive
# while containerd restarts); leaves the runtime running.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
bin=build/ledgerlet
replay=build/journal-replay
cri=build/llt-cri
tmp=$(mktemp -d /tmp/ledgerlet-crash-e2e.XXXXXX)
J=$tmp/journal
M=$tmp/manifests
LOG=$tmp/ledgerlet.log
NODE=crash
PFX=nc- # every pod's name: nc-<short name>-crash (remove-pods --prefix nc- in the cleanup)
lpid=
cd_down=0

pass() { echo "pass e2e/crash/$1"; }
nfail=0
fail() { echo "fail e2e/crash/$1: $2"; nfail=$((nfail + 1)); }
ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
note() { echo "# $*"; }
# sleep_ms <ms>
sleep_ms() { sleep "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }

# wait_until <seconds> <command...>
wait_until() {
	local end=$(($(ms) + $1 * 1000))
	shift
	while ! "$@"; do
		[ "$(ms)" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# ---- the daemon ----
start_ll() {
	# fd 7 (the runtime test lock) must not live on in the daemon
	$bin --journal-dir "$J" --hostname-override "$NODE" --pod-manifest-path "$M" \
		--container-runtime-endpoint "$LEDGERLET_CRI_ENDPOINT" >>"$LOG" 2>&1 7>&- &
	lpid=$!
}
kill9_ll() {
	kill -9 "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	lpid=
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
# ---- the runtime's view (CRI lists) and the journal's (status), taken together ----
# $tmp/sb: {id, state, name, uid, attempt} of our sandboxes; $tmp/ct: {id, state, sb,
# name, attempt, uid} of their containers; $tmp/st: the status, one pod a line.
snap() {
	"$cri" sandboxes --prefix "$PFX" >"$tmp/sb.txt" 2>"$tmp/cri.err" || return 1
	"$cri" containers --prefix "$PFX" >"$tmp/ct.txt" 2>>"$tmp/cri.err" || return 1
	"$replay" "$J" --status >"$tmp/st" 2>/dev/null || return 1
	awk '$3 ~ /-'"$NODE"'$/ { sub(/^attempt=/, "", $5); split($3, nn, "/");
		printf "{\"id\":\"%s\",\"state\":\"%s\",\"name\":\"%s\",\"uid\":\"%s\",\"attempt\":%d}\n",
			$1, $2, nn[2], $4, $5 }' "$tmp/sb.txt" >"$tmp/sb"
	awk 'NR == FNR { split($3, nn, "/"); if (nn[2] ~ /-'"$NODE"'$/) ours[$1] = 1; next }
		($3 in ours) { sub(/^attempt=/, "", $5);
		printf "{\"id\":\"%s\",\"state\":\"%s\",\"sb\":\"%s\",\"name\":\"%s\",\"attempt\":%d,\"uid\":\"%s\"}\n",
			$1, $2, $3, $4, $5, $6 }' "$tmp/sb.txt" "$tmp/ct.txt" >"$tmp/ct"
}

# The pods that should exist: short name -> kind (stable, crash, done, never, churn).
declare -A EXPECT=()
exp_json() {
	local n s="{"
	for n in "${!EXPECT[@]}"; do s+="\"$n\":\"${EXPECT[$n]}\","; done
	echo "${s%,}}"
}

# Problems of the node as it is now (one a line; none: converged). Uses the last snap.
JQ_DEFS='
def short: ltrimstr("'"$PFX"'") | rtrimstr("-'"$NODE"'");
def ctrs: (.status.initContainerStatuses // []) + (.status.containerStatuses // []);
def live: .state != "CONTAINER_EXITED";
def holds($x): any(.[]; . == $x);
'
# At convergence: at most one ready sandbox per pod uid, one non-exited container per
# (pod uid, container name). At every sample (JQ_DUPS_RUNNING): never two ready
# sandboxes, never two running containers; a created container beside a running one
# is noted (a start cut by kill -9 leaves one, that exits when containerd gives up).
JQ_DUPS='
( $sb | map(select(.state == "SANDBOX_READY")) | group_by(.uid)[] | select(length > 1)
  | "duplicate: pod \(.[0].name) (uid \(.[0].uid)) has \(length) ready sandboxes: \(map(.id[0:12]) | join(" "))" ),
( $ct | map(select(live)) | group_by([.uid, .name])[] | select(length > 1)
  | "duplicate: pod uid \(.[0].uid) container \(.[0].name) has \(length) non-exited containers: \(map(.id[0:12] + " " + .state + " attempt=\(.attempt)") | join(", "))" )
'
JQ_DUPS_RUNNING='
( $sb | map(select(.state == "SANDBOX_READY")) | group_by(.uid)[] | select(length > 1)
  | "duplicate: pod \(.[0].name) (uid \(.[0].uid)) has \(length) ready sandboxes: \(map(.id[0:12]) | join(" "))" ),
( $ct | map(select(.state == "CONTAINER_RUNNING")) | group_by([.uid, .name])[] | select(length > 1)
  | "duplicate: pod uid \(.[0].uid) container \(.[0].name) has \(length) running containers: \(map(.id[0:12] + " attempt=\(.attempt)") | join(", "))" )
'
problems() {
	jq -rn --slurpfile st "$tmp/st" --slurpfile sb "$tmp/sb" --slurpfile ct "$tmp/ct" \
		--argjson exp "$(exp_json)" "$JQ_DEFS"'
	($st | map(select(.name | endswith("-'"$NODE"'")))) as $pods
	| ($exp | keys) as $names
	| ($names | map("'"$PFX"'" + . + "-'"$NODE"'")) as $full
	| ($pods | map(select(.name as $x | $full | holds($x))) | map(.uid)) as $uids
	| (
	  ( $names[] as $n | $exp[$n] as $kind
	    | ($pods | map(select(.name == "'"$PFX"'" + $n + "-'"$NODE"'"))) as $ps
	    | if ($ps | length) != 1 then "\($n): \($ps | length) pods of that name in the status"
	      else $ps[0] as $p | $p.uid as $u
	      | ($sb | map(select(.uid == $u and .state == "SANDBOX_READY"))) as $rs
	      | ($ct | map(select(.uid == $u and live))) as $lv
	      | ( if $kind == "stable" or $kind == "churn" then
	            (if $p.status.phase != "Running" then "\($n): phase \($p.status.phase)" else empty end),
	            (if ($p.status.conditions // [] | map(select(.type == "Ready"))[0].status) != "True"
	             then "\($n): not Ready" else empty end),
	            (if ($rs | length) != 1 then "\($n): \($rs | length) ready sandboxes" else empty end),
	            ( ($p.status.containerStatuses // [])[] as $c
	              | ($lv | map(select(.name == $c.name))) as $l
	              | if ($c.state.running | not) then "\($n)/\($c.name): \($c.state | keys[0]) in the status"
	                elif ($l | length) != 1 or $l[0].state != "CONTAINER_RUNNING"
	                then "\($n)/\($c.name): the runtime has [\($l | map(.state) | join(","))]"
	                elif "containerd://" + $l[0].id != $c.containerID
	                then "\($n)/\($c.name): the status runs \($c.containerID[13:25]), the runtime \($l[0].id[0:12])"
	                elif $l[0].attempt != $c.restartCount
	                then "\($n)/\($c.name): restartCount \($c.restartCount), the runtime attempt \($l[0].attempt)"
	                else empty end )
	          elif $kind == "crash" then
	            (if ($rs | length) != 1 then "\($n): \($rs | length) ready sandboxes" else empty end),
	            ( $p | ctrs[] | select(.state.running) as $c
	              | ($ct | map(select(.id == ($c.containerID | ltrimstr("containerd://"))))[0]) as $r
	              | if $r != null and $r.attempt != $c.restartCount
	                then "\($n)/\($c.name): restartCount \($c.restartCount), the runtime attempt \($r.attempt)"
	                else empty end )
	          elif $kind == "done" then
	            (if $p.status.phase != "Succeeded" then "\($n): phase \($p.status.phase), want Succeeded" else empty end),
	            (if ($lv | length) > 0 then "\($n): \($lv | length) containers not exited" else empty end)
	          else
	            (if $p.status.phase != "Failed" then "\($n): phase \($p.status.phase), want Failed" else empty end),
	            (if ($lv | length) > 0 then "\($n): \($lv | length) containers not exited" else empty end)
	          end )
	      end ),
	  ( $sb[] | select(.uid as $u | $uids | holds($u) | not)
	    | "leak: sandbox \(.id[0:12]) \(.state) of \(.name) (uid \(.uid))" ),
	  ( $ct[] | select(.uid as $u | $uids | holds($u) | not)
	    | "leak: container \(.id[0:12]) \(.state) \(.name) attempt=\(.attempt) of pod uid \(.uid)" ),
	  ( $pods[] | select(.name as $x | $full | holds($x) | not) | "the status still has \(.name) (uid \(.uid))" ),
	  '"$JQ_DUPS"'
	  )' 2>&1
}
# dups: the duplicates of the last snap (a safety property: checked at every sample)
dups() {
	jq -rn --slurpfile sb "$tmp/sb" --slurpfile ct "$tmp/ct" "$JQ_DEFS ( $JQ_DUPS_RUNNING )" 2>&1
}
transient() {
	jq -rn --slurpfile sb "$tmp/sb" --slurpfile ct "$tmp/ct" "$JQ_DEFS ( $JQ_DUPS )" 2>&1
}
DUPS_SEEN=""
TRANSIENT_SEEN=""
# converged: sets $why_not (the problems, or the reason there is no view)
why_not=""
converged() {
	if [ -z "$lpid" ] || ! kill -0 "$lpid" 2>/dev/null; then
		why_not="ledgerlet is not running: $(tail -n 3 "$LOG" | tr '\n' ' ')"
		return 1
	fi
	if ! snap; then
		why_not="no view: $(tr '\n' ' ' <"$tmp/cri.err")"
		return 1
	fi
	local d
	d=$(dups)
	[ -z "$d" ] || DUPS_SEEN+="$d [$phase_name]"$'\n'
	d=$(transient)
	[ -z "$d" ] || TRANSIENT_SEEN+="$d [$phase_name]"$'\n'
	why_not=$(problems)
	[ -z "$why_not" ] || last_why=$why_not
	[ -z "$why_not" ]
}
# converge <seconds> <label>: waits; prints the time; on time out, the problems
CONV_FAIL=""
CONV_PROBS=""
CONV_MAX=0
converge() {
	local t=$(ms) limit=$1
	# once it failed to converge, what kept it from it likely lasts: wait less
	[ -z "$CONV_FAIL" ] || [ "$limit" -le 20 ] || limit=20
	last_why=""
	if wait_until "$limit" converged; then
		local dt=$(($(ms) - t))
		[ $dt -le $CONV_MAX ] || CONV_MAX=$dt
		conv_ms+=" $dt"
		# slow: say what it waited for last
		[ $dt -lt 10000 ] || note "$2: converged in $dt ms; the last wait was for: $(head -n 4 <<<"$last_why" | tr '\n' ';')"
		return 0
	fi
	CONV_FAIL+="$2: after $limit s: $(head -n 8 <<<"$why_not" | tr '\n' ';')"$'\n'
	CONV_PROBS+="$(sed "s/^/$2: /" <<<"$why_not")"$'\n'
	return 1
}

# ---- the pods ----
LOOP="trap 'exit 0' TERM; while true; do sleep 1; done"
declare -A VER=()
# mk <short name> <kind> [version]: writes the manifest, expects the pod
mk() {
	local n=$1 kind=$2 v=${3:-1} spec
	case $n in
	s03) spec="  containers:
  - {name: a, image: $IMG, command: [\"/bin/sh\", \"-c\", \"$LOOP\"]}
  - {name: b, image: $IMG, command: [\"/bin/sh\", \"-c\", \"$LOOP\"]}" ;;
	s04) spec="  initContainers:
  - {name: init, image: $IMG, command: [\"/bin/sh\", \"-c\", \"echo init; sleep 1\"]}
  containers:
  - {name: app, image: $IMG, command: [\"/bin/sh\", \"-c\", \"$LOOP\"]}" ;;
	s05) spec="  containers:
  - name: app
    image: $IMG
    command: [\"/bin/sh\", \"-c\", \"touch /tmp/ready; $LOOP\"]
    readinessProbe:
      exec: {command: [\"/bin/test\", \"-f\", \"/tmp/ready\"]}
      periodSeconds: 1" ;;
	s06) spec="  hostNetwork: true
  containers:
  - {name: app, image: $IMG, command: [\"/bin/sh\", \"-c\", \"$LOOP\"]}" ;;
	s07) spec="  restartPolicy: OnFailure
  containers:
  - {name: app, image: $IMG, command: [\"/bin/sh\", \"-c\", \"$LOOP\"]}" ;;
	k01 | k02) spec="  containers:
  - {name: app, image: $IMG, command: [\"/bin/sh\", \"-c\", \"echo crash; sleep 1; exit 3\"]}" ;;
	k03) spec="  containers:
  - {name: app, image: $IMG, command: [\"/bin/sh\", \"-c\", \"sleep 2; exit 1\"]}
  - {name: side, image: $IMG, command: [\"/bin/sh\", \"-c\", \"$LOOP\"]}" ;;
	x01 | x02) spec="  containers:
  - {name: app, image: $IMG, command: [\"/bin/sh\", \"-c\", \"echo done; sleep 2; exit 0\"]}" ;;
	d01) spec="  restartPolicy: OnFailure
  containers:
  - {name: app, image: $IMG, command: [\"/bin/sh\", \"-c\", \"sleep 1; exit 0\"]}" ;;
	n01) spec="  restartPolicy: Never
  containers:
  - {name: app, image: $IMG, command: [\"/bin/sh\", \"-c\", \"sleep 1; exit 1\"]}" ;;
	*) spec="  containers:
  - {name: app, image: $IMG, command: [\"/bin/sh\", \"-c\", \"echo $n v$v; $LOOP\"]}" ;;
	esac
	printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s%s\nspec:\n  terminationGracePeriodSeconds: 1\n%s\n' \
		"$PFX" "$n" "$spec" >"$M/.$n.tmp"
	mv "$M/.$n.tmp" "$M/$n.yaml" # whole files only: a half-written one is not the test
	EXPECT[$n]=$kind
	VER[$n]=$v
}
rmpod() {
	rm -f "$M/$1.yaml"
	unset "EXPECT[$1]"
}

ctr_() { timeout 20 ctr --address "$LEDGERLET_CONTAINERD_SOCK" --connect-timeout 2s -n k8s.io "$@"; }
none_left() { [ -z "$("$cri" sandboxes --prefix "$PFX" 2>/dev/null)" ]; }
finished=0
cleanup() {
	local rc=$?
	# a script error (an unbound variable abandons a whole loop) must not pass
	if [ $finished = 0 ] && [ $nfail = 0 ]; then
		echo "fail e2e/crash/script: stopped before its end (see the errors above)"
		rc=1
	fi
	if [ "$cd_down" = 1 ]; then
		scripts/runtime.sh start >/dev/null 2>&1 7>&-
	fi
	# on an early exit: let ledgerlet remove the pods, then stop it
	if [ -n "$lpid" ] && kill -0 "$lpid" 2>/dev/null; then
		rm -f "$M"/*.yaml 2>/dev/null
		wait_until 30 none_left
		stop_ll
	fi
	# what is still there (ledgerlet died, or did not remove it); a container whose
	# start was cut by kill -9 may keep a created task that containerd 1.6 reports as
	# exited and will not delete: kill and delete such tasks first
	if [ -x "$cri" ] && ! none_left; then
		local sb id
		for sb in $("$cri" sandboxes --prefix "$PFX" 2>/dev/null | cut -d' ' -f1); do
			for id in $("$cri" containers --prefix "$PFX" 2>/dev/null | awk -v s="$sb" '$3 == s { print $1 }'); do
				ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1
				ctr_ tasks delete -f "$id" >/dev/null 2>&1
			done
		done
		"$cri" remove-pods --prefix "$PFX" >/dev/null 2>&1
	fi
	[ -z "${LEDGERLET_E2E_KEEP_JOURNAL:-}" ] || cp -a "$J" "$LEDGERLET_E2E_KEEP_JOURNAL"
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT

# ---- setup ----
NAMES="kill9_converges kill9_no_duplicate kill9_no_leak kill9_no_unneeded_restart
	kill9_restart_counts_preserved kill9_journal_verifies stable_containers_never_restarted
	containerd_restart_nothing_lost containerd_restart_manifest_added_while_down
	containerd_restart_status_correct all_removed_leaves_nothing"
fail_all() { for n in $NAMES; do fail "$n" "$1"; done; exit 1; }
[ "$(id -u)" = 0 ] || fail_all "needs root (containerd, runc, mounts, network)"
for b in "$bin" "$replay" "$cri"; do
	[ -x "$b" ] || fail_all "$b is not built (make)"
done
eval "$(scripts/runtime.sh env | sed 's/^/export /')"
IMG=$LEDGERLET_IMAGE_BUSYBOX
mkdir -p "$LEDGERLET_RUNTIME_RUN_DIR"
exec 7>"$LEDGERLET_RUNTIME_TEST_LOCK"
flock -s -w 300 7 || fail_all "$LEDGERLET_RUNTIME_TEST_LOCK still held exclusive after 300 s"
t=$(ms)
if ! out=$(timeout 120 scripts/runtime.sh start 2>&1 7>&- && timeout 180 scripts/images.sh 2>&1 7>&-); then
	fail_all "the runtime did not start: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
fi
note "runtime and images ready $(($(ms) - t)) ms"
mkdir -p "$M"

seed=${LEDGERLET_CRASH_SEED:-$(($(date +%s%N) / 1000 % 1000000))}
echo "# seed $seed"
RANDOM=$seed
# rnd <lo> <hi>: R = a number in lo..hi-1 from the seeded sequence (no subshell: the
# sequence must not depend on how many subshells ran)
R=0
rnd() { R=$(($1 + RANDOM % ($2 - $1))); }

# ---- 1. twenty pods, ten kills ----
T0=$(ms)
phase_name=start
for n in s01 s02 s03 s04 s05 s06 s07 s08; do mk $n stable; done
for n in k01 k02 k03 x01 x02; do mk $n crash; done
mk d01 done
mk n01 never
for n in c01 c02 c03 c04 c05; do mk $n churn; done
start_ll

STABLE="s01 s02 s03 s04 s05 s06 s07 s08"
declare -A FIRST_ID=() # "<short>/<container>" -> "<containerID> <restartCount>" at the first convergence
churn_next=6        # the next added pod: c06, c07, ...
conv_ms=""
kills=""
nkills=0
NOUNNEEDED="" RCGONE="" VERIFY=""
what=""
churn() { # churn <op>: change | remove | add; what = what it did
	local cands=() n
	for n in $(printf '%s\n' "${!EXPECT[@]}" | sort); do [ "${EXPECT[$n]}" = churn ] && cands+=("$n"); done
	local op=$1
	[ ${#cands[@]} -gt 1 ] || op=add
	case $op in
	change)
		n=${cands[$((RANDOM % ${#cands[@]}))]}
		mk "$n" churn $((VER[$n] + 1)) ;;
	remove)
		n=${cands[$((RANDOM % ${#cands[@]}))]}
		rmpod "$n" ;;
	add)
		printf -v n c%02d $churn_next
		churn_next=$((churn_next + 1))
		mk "$n" churn ;;
	esac
	what="$op $n"
}
for k in $(seq 1 10); do
	phase_name="kill $k"
	# a random moment: soon after the start (pods starting) or after the last
	# convergence, with a manifest changed, removed or added before it or while
	# ledgerlet is down
	op=none when=up
	if [ $k -gt 1 ]; then
		case $((RANDOM % 4)) in 1) op=change ;; 2) op=remove ;; 3) op=add ;; esac
		[ $((RANDOM % 2)) = 0 ] || when=down
	fi
	rnd 200 3000
	d=$R
	what=""
	if [ $op != none ] && [ $when = up ]; then
		rnd 0 "$d"
		sleep_ms "$R"
		churn $op
		sleep_ms $((d - R))
	else
		sleep_ms "$d"
	fi
	# what the journal says just before the kill
	"$replay" "$J" --status >"$tmp/before" 2>/dev/null
	kill9_ll
	if [ $op != none ] && [ $when = down ]; then churn $op; fi
	rnd 0 700
	sleep_ms "$R"
	start_ll
	kills+=" ${d}ms${what:+($what while $when)}"
	nkills=$((nkills + 1))
	if converge 90 "kill $k"; then
		# no container that ran before the kill was restarted; counts never go back
		c=$(jq -rn --slurpfile b "$tmp/before" --slurpfile a "$tmp/st" \
			--argjson kinds "$(exp_json)" "$JQ_DEFS"'
		($b | map({key: .uid, value: .}) | from_entries) as $B
		| $a[] | select(.name | endswith("-'"$NODE"'")) | . as $p | $B[$p.uid] as $bp
		| select($bp != null)
		| ($p.name | short) as $n | $kinds[$n] as $kind
		| ($bp | ctrs[]) as $bc
		| ($p | ctrs | map(select(.name == $bc.name))[0]) as $ac
		| if $ac == null then "rc: \($n)/\($bc.name): gone from the status"
		  elif ($ac.restartCount // 0) < ($bc.restartCount // 0)
		  then "rc: \($n)/\($bc.name): restartCount \($ac.restartCount), \($bc.restartCount) before the kill"
		  elif ($kind == "stable" or $kind == "churn") and $bc.state.running != null and
		       ($ac.containerID != $bc.containerID or $ac.restartCount != $bc.restartCount)
		  then "restart: \($n)/\($bc.name) ran as \($bc.containerID[13:25]) (restartCount \($bc.restartCount)), now \($ac.containerID[13:25]) (\($ac.restartCount))"
		  elif ($kind == "done" or $kind == "never") and $bc.state.terminated != null and
		       ($ac.containerID != $bc.containerID or $ac.state.terminated == null or $ac.restartCount != $bc.restartCount)
		  then "restart: \($n)/\($bc.name) had ended as \($bc.containerID[13:25]), now \($ac.containerID[13:25]) \($ac.state | keys[0]) restartCount \($ac.restartCount)"
		  else empty end' 2>&1)
		NOUNNEEDED+=$(grep -v '^rc: ' <<<"$c" | grep . | sed "s/^/kill $k: /")
		RCGONE+=$(grep '^rc: ' <<<"$c" | sed "s/^rc: /kill $k: /")
		if [ $k = 1 ] || [ $k = 5 ] || [ $k = 10 ]; then
			vout=$("$replay" "$J" --verify 2>&1) || VERIFY+="after kill $k: $(tail -n 3 <<<"$vout" | tr '\n' ' ') "
		fi
		if [ ${#FIRST_ID[@]} = 0 ]; then # the first convergence
			for n in $STABLE; do
				while read -r c id; do FIRST_ID[$n/$c]=$id; done < <(jq -r --arg n "$PFX$n-$NODE" \
					'select(.name == $n) | .status.containerStatuses[] | "\(.name) \(.containerID) \(.restartCount)"' "$tmp/st")
			done
		fi
	fi
done
[ "$nkills" = 10 ] || fail kill9_converges "the kill loop stopped after kill $k (a script error?)"
note "killed after$kills"
note "converged after each restart in (ms):$conv_ms"

if [ -z "$CONV_FAIL" ]; then pass kill9_converges
else fail kill9_converges "$(tr '\n' ' ' <<<"$CONV_FAIL")"; fi
[ -z "$TRANSIENT_SEEN" ] || note "on the way (not at convergence): $(sort -u <<<"$TRANSIENT_SEEN" | sed 's/ has [0-9]* non-exited containers//' | head -n 4 | tr '\n' ' ')"
if [ -z "$DUPS_SEEN$(grep -h ': duplicate' <<<"$CONV_PROBS")" ]; then pass kill9_no_duplicate
else fail kill9_no_duplicate "$(printf '%s\n' "$DUPS_SEEN" "$(grep -h ': duplicate' <<<"$CONV_PROBS")" | grep . | sort -u | head -n 5 | tr '\n' ' ')"; fi
leaks=$(grep -h ': leak:\|: the status still' <<<"$CONV_PROBS")
if [ -z "$leaks" ]; then pass kill9_no_leak
else fail kill9_no_leak "$(head -n 5 <<<"$leaks" | tr '\n' ' ')"; fi
if [ -z "$NOUNNEEDED" ]; then pass kill9_no_unneeded_restart
else fail kill9_no_unneeded_restart "$(head -n 6 <<<"$NOUNNEEDED" | tr '\n' ' ')"; fi
rcs=$(printf '%s\n' "$RCGONE" "$(grep -h 'restartCount' <<<"$CONV_PROBS")" | grep .)
if [ -z "$rcs" ]; then pass kill9_restart_counts_preserved
else fail kill9_restart_counts_preserved "$(head -n 5 <<<"$rcs" | tr '\n' ' ')"; fi
if [ -z "$VERIFY" ]; then pass kill9_journal_verifies
else fail kill9_journal_verifies "$VERIFY"; fi
note "kill -9 part $(($(ms) - T0)) ms; slowest convergence $CONV_MAX ms"

# ---- 2. containerd restarted under a running ledgerlet ----
phase_name="containerd restart"
T1=$(ms)
# lock_holders: the processes that hold the runtime test lock (from /proc/locks)
lock_holders() {
	local ino p
	ino=$(stat -c %i "$LEDGERLET_RUNTIME_TEST_LOCK")
	for p in $(awk -v i=":$ino" '$6 ~ i"$" { print $5 }' /proc/locks | sort -u); do
		[ "$p" = $$ ] || printf '%s ' "$p:$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-80)"
	done
}
ok_lock=1
if ! flock -x -w 600 7; then
	ok_lock=0
	h=$(lock_holders)
	for n in containerd_restart_nothing_lost containerd_restart_manifest_added_while_down \
		containerd_restart_status_correct; do
		fail $n "$LEDGERLET_RUNTIME_TEST_LOCK not exclusive after 600 s: other tests use the runtime (holders: ${h:-gone by now})"
	done
fi
note "runtime test lock exclusive after $(($(ms) - T1)) ms"
if [ $ok_lock = 1 ]; then
	conv_ms=""
	CONV_FAIL=""
	DUPS_SEEN=""
	if ! converge 60 "before the containerd restart"; then
		note "not converged before the containerd restart: $(head -n 5 <<<"$why_not" | tr '\n' ';')"
	fi
	cp "$tmp/st" "$tmp/st.before"
	cp "$tmp/ct" "$tmp/ct.before"
	cpid=$(cat "$LEDGERLET_RUNTIME_RUN_DIR/containerd.pid" 2>/dev/null)
	why=""
	if [ -z "$cpid" ] || ! tr '\0' '\n' <"/proc/$cpid/cmdline" 2>/dev/null | grep -qxF "$LEDGERLET_CONTAINERD_CONFIG"; then
		why="no containerd of ours to restart (pid file: '$cpid')"
	else
		t=$(ms)
		cd_down=1
		kill -TERM "$cpid"
		wait_until 20 eval '! kill -0 '"$cpid"' 2>/dev/null' || { kill -KILL "$cpid"; sleep 0.5; }
		note "containerd (pid $cpid) stopped in $(($(ms) - t)) ms"
		sleep 1
		mk late stable # added while containerd is down
		sleep 3        # ledgerlet's relists and the late pod's sandbox fail meanwhile
		kill -0 "$lpid" 2>/dev/null || why+=" ledgerlet died while containerd was down: $(tail -n 3 "$LOG" | tr '\n' ' ');"
		t=$(ms)
		if out=$(timeout 60 scripts/runtime.sh start 2>&1 7>&-); then
			cd_down=0
			note "containerd started again in $(($(ms) - t)) ms (pid $(cat "$LEDGERLET_RUNTIME_RUN_DIR/containerd.pid"))"
		else
			why+=" containerd did not start again: $(tail -n 3 <<<"$out" | tr '\n' ' ');"
		fi
	fi
	if [ -n "$why" ]; then
		for n in containerd_restart_nothing_lost containerd_restart_manifest_added_while_down \
			containerd_restart_status_correct; do fail $n "${why# }"; done
	else
		t=$(ms)
		converge 60 "after the containerd restart"
		note "converged $(($(ms) - t)) ms after containerd was back"
		# nothing lost: every container that ran runs still, under the same id
		lost=$(jq -rn --slurpfile b "$tmp/ct.before" --slurpfile a "$tmp/ct" --slurpfile st "$tmp/st.before" \
			--argjson kinds "$(exp_json)" "$JQ_DEFS"'
			($st | map(select(.name | endswith("-'"$NODE"'")) | {key: .uid, value: (.name | short)}) | from_entries) as $pod
			| $b[] | select(.state == "CONTAINER_RUNNING") | select($kinds[$pod[.uid] // ""] == "stable" or $kinds[$pod[.uid] // ""] == "churn")
			| . as $c | ($a | map(select(.id == $c.id))[0]) as $now
			| if $now == null then "\($pod[$c.uid])/\($c.name) \($c.id[0:12]): gone"
			  elif $now.state != "CONTAINER_RUNNING" then "\($pod[$c.uid])/\($c.name) \($c.id[0:12]): \($now.state)"
			  else empty end' 2>&1)
		restarted=$(jq -rn --slurpfile b "$tmp/st.before" --slurpfile a "$tmp/st" \
			--argjson kinds "$(exp_json)" "$JQ_DEFS"'
			($b | map({key: .uid, value: .}) | from_entries) as $B
			| $a[] | select(.name | endswith("-'"$NODE"'")) | . as $p | $B[$p.uid] as $bp | select($bp != null)
			| ($p.name | short) as $n | $kinds[$n] as $kind
			| ($bp | ctrs[]) as $bc | ($p | ctrs | map(select(.name == $bc.name))[0]) as $ac
			| if $ac == null then "\($n)/\($bc.name): gone from the status"
			  elif ($ac.restartCount // 0) < ($bc.restartCount // 0) then "\($n)/\($bc.name): restartCount \($ac.restartCount), was \($bc.restartCount)"
			  elif $kind != "crash" and ($ac.containerID != $bc.containerID or $ac.restartCount != $bc.restartCount)
			  then "\($n)/\($bc.name): restarted (\($bc.containerID[13:25]) -> \($ac.containerID[13:25]), restartCount \($bc.restartCount) -> \($ac.restartCount))"
			  else empty end' 2>&1)
		gone=$(jq -rn --slurpfile b "$tmp/st.before" --slurpfile a "$tmp/st" "$JQ_DEFS"'
			$b[] | select(.name | endswith("-'"$NODE"'")) | .uid as $u
			| select(($a | map(.uid) | holds($u)) | not) | "\(.name): no longer in the status"' 2>&1)
		if [ -z "$lost$restarted$gone$DUPS_SEEN" ] && kill -0 "$lpid" 2>/dev/null; then
			pass containerd_restart_nothing_lost
		else
			fail containerd_restart_nothing_lost "$(printf '%s\n' "$lost" "$restarted" "$gone" "$DUPS_SEEN" | grep . | head -n 6 | tr '\n' ' ')"
		fi
		# the late pod: running, made once
		lu=$(jq -r --arg n "${PFX}late-$NODE" 'select(.name == $n) | .uid' "$tmp/st")
		nsb=$(jq -r --arg u "$lu" 'select(.uid == $u) | .id' "$tmp/sb" | grep -c .)
		nct=$(jq -r --arg u "$lu" 'select(.uid == $u) | .id' "$tmp/ct" | grep -c .)
		lst=$(jq -r --arg n "${PFX}late-$NODE" 'select(.name == $n) | .status.containerStatuses[0] | "\(.state | keys[0]) restartCount=\(.restartCount)"' "$tmp/st")
		if [ -n "$lu" ] && [ "$nsb" = 1 ] && [ "$nct" = 1 ] && [ "$lst" = "running restartCount=0" ]; then
			pass containerd_restart_manifest_added_while_down
		else
			fail containerd_restart_manifest_added_while_down "late pod uid '$lu': $nsb sandboxes, $nct containers, '$lst'; $(grep -F late <<<"$why_not" | head -n 3 | tr '\n' ' ')"
		fi
		if [ -z "$CONV_FAIL" ]; then pass containerd_restart_status_correct
		else fail containerd_restart_status_correct "$(tr '\n' ' ' <<<"$CONV_FAIL")"; fi
	fi
	flock -s 7
fi
note "containerd restart part $(($(ms) - T1)) ms"

# the stable pods' containers never changed, through every kill and the restart
changed=""
snap
for key in "${!FIRST_ID[@]}"; do
	n=${key%%/*} c=${key#*/}
	now=$(jq -r --arg n "$PFX$n-$NODE" --arg c "$c" 'select(.name == $n) | .status.containerStatuses[] | select(.name == $c) | "\(.containerID) \(.restartCount)"' "$tmp/st")
	[ "$now" = "${FIRST_ID[$key]}" ] ||
		changed+=" $key: ${FIRST_ID[$key]:13:12} (restartCount ${FIRST_ID[$key]##* }) -> '${now:13:12}' (${now##* });"
done
if [ ${#FIRST_ID[@]} -lt 9 ]; then fail stable_containers_never_restarted "only ${#FIRST_ID[@]} stable containers seen at the first convergence"
elif [ -z "$changed" ]; then pass stable_containers_never_restarted
else fail stable_containers_never_restarted "${changed# }"; fi

# ---- 3. every manifest removed: nothing is left ----
phase_name=removal
t=$(ms)
for n in "${!EXPECT[@]}"; do rmpod "$n"; done
empty() {
	converged || return 1
	[ ! -s "$tmp/sb" ] && [ ! -s "$tmp/ct" ]
}
last_why=""
if wait_until 60 empty; then
	note "everything removed in $(($(ms) - t)) ms${last_why:+; the last wait was for: $(head -n 3 <<<"$last_why" | tr '\n' ';')}"
	vout=$("$replay" "$J" --verify 2>&1)
	if [ $? = 0 ]; then pass all_removed_leaves_nothing
	else fail all_removed_leaves_nothing "removed, but journal-replay --verify: $(tail -n 3 <<<"$vout" | tr '\n' ' ')"; fi
else
	stuck=$("$replay" "$J" --export 2>/dev/null | grep -o 'cannot delete running task [0-9a-f]\{12\}' | sort -u | tr '\n' ' ')
	fail all_removed_leaves_nothing "after 60 s: $(head -n 6 <<<"$why_not" | tr '\n' ';') sandboxes: $(wc -l <"$tmp/sb"), containers: $(wc -l <"$tmp/ct")${stuck:+; containerd refused: $stuck(a start cut by kill -9 left a created task that containerd reports as exited)}"
fi
stop_ll
[ $nfail -eq 0 ] || tail -n 40 "$LOG" | sed 's/^/#   | /'
[ -z "${LEDGERLET_E2E_KEEP_LOG:-}" ] || cp "$LOG" "$LEDGERLET_E2E_KEEP_LOG"
note "whole suite $(($(ms) - T0)) ms"
finished=1
[ $nfail -eq 0 ]
