#!/usr/bin/env bash
# The configuration file end to end, without a runtime: --config is read
# (staticPodPath, maxPods), flags win over it, a bad file stops the start with a
# message naming the file and the field, and SIGHUP reads it again — a new
# staticPodPath removes the old directory's pods and runs the new one's, a
# changed maxPods is journaled once, and a broken file changes nothing.
# Prints "pass e2e/config/NAME" / "fail e2e/config/NAME: why" lines.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=build/ledgerlet
replay=build/journal-replay
tmp=$(mktemp -d /tmp/ledgerlet-config-e2e.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
J=$tmp/journal
K=$tmp/kubelet.yaml
LOG=$tmp/ll.log
mkdir -p "$tmp/m1" "$tmp/m2"

pass() { echo "pass e2e/config/$1"; }
fail() { echo "fail e2e/config/$1: $2"; }

# wait_for <command...>: up to 5 s
wait_for() {
	local i
	for ((i = 0; i < 100; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
events() { "$replay" "$J" --export 2>/dev/null; }
has_event() { events | grep -q -- "$1"; }
count_events() { events | grep -c -- "$1"; }

pod() { # pod <file> <name>
	cat >"$1" <<EOP
apiVersion: v1
kind: Pod
metadata: {name: $2}
spec:
  containers: [{name: c, image: busybox:1, command: [/bin/sleep, "3600"]}]
EOP
}
pod "$tmp/m1/a.yaml" a
pod "$tmp/m2/b.yaml" b
cat >"$K" <<EOF2
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: $tmp/m1
maxPods: 20
clusterDomain: cluster.local
EOF2

# 1. the file is read; an unknown field is named and ignored
$bin --journal-dir "$J" --hostname-override cfg --config "$K" >"$LOG" 2>&1 &
pid=$!
if wait_for grep -q ready "$LOG" && wait_for has_event "\"path\":\"$tmp/m1/a.yaml\",\"object\"" &&
	has_event '"maxPods":20' && grep -q "config $K: clusterDomain: not used by ledgerlet; ignored" "$LOG"; then
	pass file_is_read
else
	fail file_is_read "$(tail -n 5 "$LOG")"
fi

# 2. SIGHUP with a new staticPodPath and maxPods
sed -i "s#$tmp/m1#$tmp/m2#; s/maxPods: 20/maxPods: 30/" "$K"
kill -HUP $pid
if wait_for has_event "\"path\":\"$tmp/m2/b.yaml\",\"object\"" &&
	has_event "\"path\":\"$tmp/m1/a.yaml\",\"removed\":true" && has_event '"maxPods":30' &&
	grep -q "SIGHUP: staticPodPath $tmp/m1 -> $tmp/m2" "$LOG"; then
	pass sighup_switches_the_manifest_directory
else
	fail sighup_switches_the_manifest_directory "$(tail -n 5 "$LOG")"
fi

# 3. SIGHUP with an unchanged file journals nothing; a broken one changes nothing
sleep 0.3
n0=$(events | wc -l)
kill -HUP $pid
sleep 0.5
echo "maxPods: many" >>"$K"
kill -HUP $pid
if wait_for grep -q "SIGHUP: config $K: maxPods: want an integer; the configuration in use is kept" "$LOG" &&
	[ "$(events | wc -l)" = "$n0" ]; then
	pass unchanged_or_broken_reload_changes_nothing
else
	fail unchanged_or_broken_reload_changes_nothing "$(tail -n 3 "$LOG"); events $n0 -> $(events | wc -l)"
fi
# the new directory is watched
pod "$tmp/m2/c.yaml" c
if wait_for has_event "\"path\":\"$tmp/m2/c.yaml\",\"object\""; then
	pass new_directory_is_watched
else
	fail new_directory_is_watched "c.yaml not journaled"
fi
kill -TERM $pid
wait $pid

# 4. a restart with the file's directory and a flag that wins over it
sed -i '/maxPods: many/d' "$K"
$bin --journal-dir "$J" --hostname-override cfg --config "$K" --max-pods 40 \
	--pod-manifest-path "$tmp/m1" >"$LOG" 2>&1 &
pid=$!
if wait_for grep -q ready "$LOG" && wait_for has_event '"maxPods":40' &&
	[ "$(count_events "\"path\":\"$tmp/m2/b.yaml\",\"removed\":true")" = 1 ] &&
	[ "$(count_events "\"path\":\"$tmp/m1/a.yaml\",\"object\"")" = 2 ]; then
	pass flags_win_over_the_file
else
	fail flags_win_over_the_file "$(tail -n 3 "$LOG"); $(events | grep -v effect | cut -c1-150)"
fi
kill -TERM $pid
wait $pid

# 5. a bad file stops the start, naming the file and the field
printf 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nevictionHard: {memory.available: lots}\n' >"$K"
out=$($bin --journal-dir "$J" --hostname-override cfg --config "$K" 2>&1)
rc=$?
if [ $rc = 2 ] && grep -q "config $K: evictionHard: \"memory.available\": \"lots\" is not a quantity" <<<"$out"; then
	pass bad_file_is_named
else
	fail bad_file_is_named "rc $rc: $out"
fi
