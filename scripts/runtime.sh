#!/usr/bin/env bash
# The project's own container runtime for tests and the demo: a containerd (CRI
# plugin, runc, overlayfs, a CNI bridge of ours) and a local image registry on
# 127.0.0.1:5000, both started from Debian's packages with configuration of ours, so
# they coexist with any containerd, registry or CNI network already on the machine.
#
# Usage: scripts/runtime.sh start|stop|status|env
#   start   install what is missing, write the configuration, start the registry and
#           containerd (nothing when they already run), wait until both answer
#   stop    remove every task, container and pod containerd runs, stop containerd,
#           its leftover shims, the registry; unmount what is left; remove bridge llt0
#   status  one line per part; exit 0 when containerd and the registry both run
#   env     KEY=value lines for other scripts:  set -a; . <(scripts/runtime.sh env); set +a
#
# One runtime per machine (the registry's port is fixed), and test suites may run side
# by side: a test that uses the runtime holds $LEDGERLET_RUNTIME_TEST_LOCK shared
# (flock -s) while it does; one that stops it (tests/e2e/runtime_test.sh) holds it
# exclusive.
#
# Where things are (override with the environment):
#   LEDGERLET_RUNTIME_DIR      (/var/lib/ledgerlet-runtime) containerd root, its config
#                              containerd.toml and log containerd.log, registry storage,
#                              registry.yml and registry.log, CNI conf and IPAM state
#   LEDGERLET_RUNTIME_RUN_DIR  (/run/ledgerlet-runtime) containerd state, containerd.sock,
#                              runc state, network namespaces, pid files
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${LEDGERLET_RUNTIME_DIR:-/var/lib/ledgerlet-runtime}
RUN=${LEDGERLET_RUNTIME_RUN_DIR:-/run/ledgerlet-runtime}
SOCK=$RUN/containerd.sock
CONF=$DIR/containerd.toml
CLOG=$DIR/containerd.log
CPID=$RUN/containerd.pid
RCONF=$DIR/registry.yml
RLOG=$DIR/registry.log
RPID=$RUN/registry.pid
REGISTRY=127.0.0.1:5000
BRIDGE=llt0
SUBNET=10.244.77.0/24
CNI_BIN=/usr/lib/cni
CNI_CONF=$DIR/cni/net.d
CERTS=$DIR/certs.d

say() { echo "runtime: $*"; }
die() { echo "runtime: $*" >&2; exit 1; }
# stop unmounts and removes under these: they must be directories of their own
for d in "$DIR" "$RUN"; do
	case $d in /*/*[!/]*) ;; *) die "'$d' is too close to / for a runtime directory" ;; esac
done

# runs_with <pid> <program> <argument>: the process runs that program (by the base
# name of argv[0]) with that exact argument; no forks, so a scan of /proc stays cheap
runs_with() {
	local -a argv
	mapfile -d '' -t argv 2>/dev/null <"/proc/$1/cmdline" || return 1
	[ ${#argv[@]} -gt 1 ] && [ "${argv[0]##*/}" = "$2" ] || return 1
	local a
	for a in "${argv[@]:1}"; do [ "$a" = "$3" ] && return 0; done
	return 1
}
# pids_with <program> <argument>: every process that runs_with them
pids_with() {
	local p
	for p in /proc/[0-9]*; do runs_with "${p#/proc/}" "$1" "$2" && echo "${p#/proc/}"; done
	return 0
}
# alive <pidfile> <program> <config>: the pid in the file runs that program with our
# config (not a reused pid, nor another instance's)
alive() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 1
	[ -n "$pid" ] && runs_with "$pid" "$2" "$3"
}
# adopt <pidfile> <program> <config>: when the pid file is lost or stale, find the
# process that runs with our config and write its pid
adopt() {
	alive "$@" && return 0
	local pid
	pid=$(pids_with "$2" "$3" | head -n 1)
	[ -z "$pid" ] || echo "$pid" >"$1"
}
adopt_both() {
	[ -d "$RUN" ] || return 0
	adopt "$CPID" containerd "$CONF"
	adopt "$RPID" docker-registry "$RCONF"
}
# daemon <log> <command...>: starts it in a session of its own, with no descriptor of
# ours (a lock a caller holds must not live on in containerd); $! is its pid
daemon() {
	local log=$1
	shift
	(
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec setsid "$@"
	) </dev/null >>"$log" 2>&1 &
}
ctr_() { ctr --address "$SOCK" "$@"; }
containerd_answers() { [ -S "$SOCK" ] && ctr_ --connect-timeout 1s version >/dev/null 2>&1; }
registry_answers() { curl -sf -m 1 "http://$REGISTRY/v2/" >/dev/null 2>&1; }

# wait_until <seconds> <command...>
wait_until() {
	local n=$(($1 * 20))
	shift
	while ! "$@"; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.05
	done
}

write_config() {
	mkdir -p "$DIR/containerd" "$DIR/registry" "$CNI_CONF" "$DIR/cni/ipam" "$RUN/runc"
	chmod 0711 "$DIR" "$RUN"

	# Plain-http registry: hosts.toml under config_path, which containerd 1.6's CRI
	# honours (the legacy registry.mirrors must then stay empty), and ctr can use with
	# --hosts-dir.
	local h
	for h in 127.0.0.1:5000 localhost:5000; do
		mkdir -p "$CERTS/$h"
		cat >"$CERTS/$h/hosts.toml" <<-EOF
			server = "http://$h"

			[host."http://$h"]
			  capabilities = ["pull", "resolve", "push"]
			  skip_verify = true
		EOF
	done

	cat >"$CNI_CONF/10-ledgerlet.conflist" <<-EOF
		{
		  "cniVersion": "1.0.0",
		  "name": "ledgerlet",
		  "plugins": [
		    {
		      "type": "bridge",
		      "bridge": "$BRIDGE",
		      "isGateway": true,
		      "ipMasq": false,
		      "hairpinMode": true,
		      "ipam": {
		        "type": "host-local",
		        "ranges": [[{ "subnet": "$SUBNET" }]],
		        "routes": [{ "dst": "0.0.0.0/0" }],
		        "dataDir": "$DIR/cni/ipam"
		      }
		    },
		    { "type": "loopback" }
		  ]
		}
	EOF

	cat >"$CONF" <<-EOF
		# ledgerlet's test runtime; written by scripts/runtime.sh on every start.
		version = 2
		root = "$DIR/containerd"
		state = "$RUN/containerd"
		disabled_plugins = [
		  "io.containerd.snapshotter.v1.aufs",
		  "io.containerd.snapshotter.v1.btrfs",
		  "io.containerd.snapshotter.v1.zfs",
		  "io.containerd.snapshotter.v1.devmapper",
		]

		[grpc]
		  address = "$SOCK"

		[ttrpc]
		  address = "$SOCK.ttrpc"

		[plugins]
		  [plugins."io.containerd.internal.v1.opt"]
		    path = "$DIR/opt"

		  [plugins."io.containerd.grpc.v1.cri"]
		    sandbox_image = "$REGISTRY/pause:1"
		    restrict_oom_score_adj = true
		    netns_mounts_under_state_dir = true
		    stream_server_address = "127.0.0.1"
		    stream_server_port = "0"
		    enable_selinux = false

		    [plugins."io.containerd.grpc.v1.cri".containerd]
		      snapshotter = "overlayfs"
		      default_runtime_name = "runc"

		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		        runtime_type = "io.containerd.runc.v2"

		        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		          BinaryName = "$(command -v runc)"
		          Root = "$RUN/runc"
		          SystemdCgroup = false

		    [plugins."io.containerd.grpc.v1.cri".cni]
		      bin_dir = "$CNI_BIN"
		      conf_dir = "$CNI_CONF"
		      max_conf_num = 1

		    [plugins."io.containerd.grpc.v1.cri".registry]
		      config_path = "$CERTS"
	EOF

	cat >"$RCONF" <<-EOF
		# ledgerlet's test registry; written by scripts/runtime.sh on every start.
		version: 0.1
		log:
		  level: warn
		  accesslog:
		    disabled: true
		storage:
		  filesystem:
		    rootdirectory: $DIR/registry
		  delete:
		    enabled: true
		http:
		  addr: $REGISTRY
	EOF
}

start_registry() {
	if alive "$RPID" docker-registry "$RCONF" && registry_answers; then return 0; fi
	if registry_answers || ss -Hltn "sport = :5000" 2>/dev/null | grep -q .; then
		die "port 5000 is taken by another program: $(ss -Hltnp 'sport = :5000' 2>/dev/null | head -n 1)"
	fi
	daemon "$RLOG" docker-registry serve "$RCONF"
	echo $! >"$RPID"
	wait_until 10 registry_answers || {
		tail -n 5 "$RLOG" >&2
		die "the registry did not answer on $REGISTRY within 10 s; see $RLOG"
	}
	say "registry on $REGISTRY (pid $(cat "$RPID"))"
}

start_containerd() {
	if alive "$CPID" containerd "$CONF" && containerd_answers; then return 0; fi
	if containerd_answers; then die "$SOCK answers, but not from the containerd in $CPID"; fi
	rm -f "$SOCK" "$SOCK.ttrpc"
	daemon "$CLOG" containerd --config "$CONF"
	echo $! >"$CPID"
	wait_until 20 containerd_answers || {
		tail -n 5 "$CLOG" >&2
		die "containerd did not answer on $SOCK within 20 s; see $CLOG"
	}
	if ! ctr_ plugins ls 2>/dev/null | awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" && $NF == "ok"' | grep -q .; then
		die "containerd runs, but its CRI plugin is not ok; see $CLOG"
	fi
	say "containerd on $SOCK (pid $(cat "$CPID"))"
}

# The pids of shims whose containerd is ours (our socket is on their command line).
our_shims() { pids_with containerd-shim-runc-v2 "$SOCK"; }

# stop_pid <pidfile> <exe> <config> <seconds>: TERM, then KILL after the grace period
stop_pid() {
	alive "$1" "$2" "$3" || { rm -f "$1"; return 0; }
	local pid
	pid=$(cat "$1")
	kill -TERM "$pid" 2>/dev/null || true
	wait_until "$4" eval '! kill -0 '"$pid"' 2>/dev/null' || {
		kill -KILL "$pid" 2>/dev/null || true
		wait_until 5 eval '! kill -0 '"$pid"' 2>/dev/null' || true
	}
	rm -f "$1"
}

# gone <pid...>: none of them runs (a zombie counts as gone)
gone() {
	local p
	for p; do
		[ -e "/proc/$p" ] && [ "$(sed 's/.*) \([A-Z]\).*/\1/' "/proc/$p/stat" 2>/dev/null)" != Z ] && return 1
	done
	return 0
}

# What a containerd that died (or was killed) leaves running: containers in our runc
# root, shims, and the container processes they parent (a container started by ctr
# without --runc-root keeps its runc state elsewhere), with their cgroups.
kill_leftovers() {
	local r id shim c line rel cgs=() pids=() socks=()
	for r in "$RUN"/runc/*/; do
		[ -d "$r" ] || continue
		for id in $(runc --root "$r" list -q 2>/dev/null); do
			runc --root "$r" delete -f "$id" >/dev/null 2>&1 || true
		done
	done
	for shim in $(our_shims); do
		for c in $(grep -l "^PPid:[[:space:]]*$shim\$" /proc/[0-9]*/status 2>/dev/null); do
			c=${c#/proc/}
			c=${c%/status}
			pids+=("$c")
			while IFS= read -r line; do
				rel=${line#*:*:}
				[ "$rel" = / ] || cgs+=("$rel")
			done 2>/dev/null <"/proc/$c/cgroup"
			kill -KILL "$c" 2>/dev/null || true
		done
		# the shim's socket: /run/containerd/s/sha256(<address>/<namespace>/<id>)
		local -a argv
		local i ns="" sid=""
		mapfile -d '' -t argv 2>/dev/null <"/proc/$shim/cmdline" || argv=()
		for ((i = 1; i + 1 < ${#argv[@]}; i++)); do
			case ${argv[i]} in -namespace) ns=${argv[i + 1]} ;; -id) sid=${argv[i + 1]} ;; esac
		done
		kill -KILL "$shim" 2>/dev/null || true
		pids+=("$shim")
		if [ -n "$ns" ] && [ -n "$sid" ]; then
			socks+=("/run/containerd/s/$(printf %s "$SOCK/$ns/$sid" | sha256sum | cut -d' ' -f1)")
		fi
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	wait_until 5 gone "${pids[@]}" || true
	rm -f "${socks[@]}"
	# only the cgroups of the processes just killed, and only when empty (rmdir)
	for rel in $(printf '%s\n' "${cgs[@]}" | sort -u); do
		find /sys/fs/cgroup -mindepth 2 -depth -type d -path "*$rel" -exec rmdir {} + 2>/dev/null || true
	done
}

remove_everything_running() {
	local ns id
	for ns in $(ctr_ namespaces ls -q 2>/dev/null); do
		for id in $(ctr_ -n "$ns" tasks ls -q 2>/dev/null); do
			ctr_ -n "$ns" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
		done
		for id in $(ctr_ -n "$ns" tasks ls -q 2>/dev/null); do
			ctr_ -n "$ns" tasks delete -f "$id" >/dev/null 2>&1 || true
		done
		for id in $(ctr_ -n "$ns" containers ls -q 2>/dev/null); do
			ctr_ -n "$ns" containers delete "$id" >/dev/null 2>&1 || true
		done
	done
}

# have_deps: every program the runtime needs is there (a quick look, without dpkg's 20
# queries; scripts/deps.sh runtime installs what is missing otherwise)
have_deps() {
	local b
	for b in containerd ctr runc containerd-shim-runc-v2 docker-registry skopeo umoci ip curl; do
		command -v "$b" >/dev/null || return 1
	done
	for b in bridge host-local loopback; do [ -x "$CNI_BIN/$b" ] || return 1; done
	[ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" = "install ok installed" ]
}

cmd_start() {
	have_deps || scripts/deps.sh runtime
	[ "$(id -u)" = 0 ] || die "must run as root"
	mkdir -p "$DIR" "$RUN"
	exec 9>"$RUN/.lock"
	flock 9
	adopt_both
	write_config
	start_registry
	if ! alive "$CPID" containerd "$CONF" && [ ! -d "$RUN/containerd" ]; then
		# No state dir: nothing containerd ran before can still run (a reboot, or a
		# stop). Containers its metadata still holds are stale: remove them.
		start_containerd
		remove_everything_running
	else
		start_containerd
	fi
}

cmd_stop() {
	mkdir -p "$RUN"
	exec 9>"$RUN/.lock"
	flock 9
	adopt_both
	# Both take 1.5-2 s to leave on SIGTERM: stop them side by side.
	stop_pid "$RPID" docker-registry "$RCONF" 5 &
	# A containerd that died leaves its state dir, and containers in its metadata that
	# the next start would find: start it once more (it reconnects to live shims and
	# reaps dead ones) so that everything is removed the ordinary way.
	if ! alive "$CPID" containerd "$CONF" && [ -d "$RUN/containerd" ] && [ -f "$CONF" ]; then
		say "containerd was not stopped cleanly: starting it to remove what it ran"
		(start_containerd) >/dev/null || true
	fi
	if alive "$CPID" containerd "$CONF" && containerd_answers; then remove_everything_running; fi
	stop_pid "$CPID" containerd "$CONF" 10
	kill_leftovers
	local m
	# rootfs, shm and network-namespace mounts left by killed shims or sandboxes
	for m in $(awk -v a="$RUN/" -v b="$DIR/" 'index($5, a) == 1 || index($5, b) == 1 { print $5 }' \
		/proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf "$RUN/containerd" "$RUN/runc" "$RUN/fifo" "$DIR/cni/ipam"
	rm -f "$SOCK" "$SOCK.ttrpc"
	wait
	if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link delete "$BRIDGE" || true; fi
	say "stopped"
}

cmd_status() {
	local ok=0
	[ ! -w "$RUN" ] || adopt_both
	if alive "$CPID" containerd "$CONF" && containerd_answers; then
		local tasks
		tasks=$(ctr_ -n k8s.io tasks ls -q 2>/dev/null | wc -l)
		say "containerd running (pid $(cat "$CPID"), $SOCK, $tasks tasks in k8s.io)"
	else
		say "containerd stopped"; ok=3
	fi
	if alive "$RPID" docker-registry "$RCONF" && registry_answers; then
		say "registry running (pid $(cat "$RPID"), http://$REGISTRY)"
	else
		say "registry stopped"; ok=3
	fi
	if ip link show "$BRIDGE" >/dev/null 2>&1; then say "bridge $BRIDGE present"
	else say "bridge $BRIDGE absent (made by the first pod-network sandbox)"; fi
	local n
	n=$(our_shims | wc -l)
	[ "$n" -eq 0 ] || say "$n shims of ours"
	return $ok
}

cmd_env() {
	cat <<-EOF
		LEDGERLET_RUNTIME_DIR=$DIR
		LEDGERLET_RUNTIME_RUN_DIR=$RUN
		LEDGERLET_RUNTIME_TEST_LOCK=$RUN/e2e.lock
		LEDGERLET_CRI_ENDPOINT=unix://$SOCK
		LEDGERLET_CONTAINERD_SOCK=$SOCK
		LEDGERLET_CONTAINERD_CONFIG=$CONF
		LEDGERLET_CONTAINERD_HOSTS_DIR=$CERTS
		LEDGERLET_REGISTRY=$REGISTRY
		LEDGERLET_IMAGE_BUSYBOX=$REGISTRY/busybox:1
		LEDGERLET_IMAGE_PAUSE=$REGISTRY/pause:1
		LEDGERLET_CGROUP_DRIVER=cgroupfs
		LEDGERLET_CNI_CONF_DIR=$CNI_CONF
		LEDGERLET_CNI_BIN_DIR=$CNI_BIN
		LEDGERLET_POD_SUBNET=$SUBNET
		LEDGERLET_POD_BRIDGE=$BRIDGE
	EOF
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
*) echo "usage: scripts/runtime.sh start|stop|status|env" >&2; exit 2 ;;
esac
