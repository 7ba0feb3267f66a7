#!/usr/bin/env bash
# Installs the Debian packages a make target needs, and nothing when all are present.
# Usage: scripts/deps.sh build|test|run|bench|runtime
# Idempotent and silent when everything is installed; prints one line per install.
set -euo pipefail

build=(gcc make pkg-config protobuf-c-compiler libprotobuf-c-dev liblmdb-dev
	libcurl4-openssl-dev libjson-c-dev liburing-dev libcgroup-dev libyaml-dev)
# The real container runtime and image tools the e2e tests and the demo start
# (scripts/runtime.sh, scripts/images.sh).
runtime=(containerd runc containernetworking-plugins docker-registry busybox-static
	umoci skopeo iproute2 curl)
extra=()
case "${1:-build}" in
build) ;;
test) extra=(lmdb-utils util-linux python3 jq openssl "${runtime[@]}") ;;
bench) extra=(lmdb-utils util-linux python3 "${runtime[@]}") ;;
run) extra=(lmdb-utils procps "${runtime[@]}") ;;
runtime) extra=("${runtime[@]}") ;;
*) echo "deps.sh: unknown target '$1' (want build, test, run, bench or runtime)" >&2; exit 2 ;;
esac

missing=()
for p in "${build[@]}" "${extra[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages (${missing[*]}) and not root: install them or run as root" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# One index update per machine: the lists are fetched only if apt has none yet
# or a package is unknown to them.
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/ledgerlet-apt.log 2>&1; then
	apt-get update -qq >>/tmp/ledgerlet-apt.log 2>&1
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/ledgerlet-apt.log 2>&1 || {
		echo "deps.sh: apt-get install failed; see /tmp/ledgerlet-apt.log" >&2
		tail -n 20 /tmp/ledgerlet-apt.log >&2
		exit 1
	}
fi
