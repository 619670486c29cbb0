#!/usr/bin/env bash
# Install the Debian 12 packages Shelter needs, and only those that are missing.
#   scripts/install-deps.sh          build and test dependencies (make check, make demo)
#   scripts/install-deps.sh --bench  also the peers bench/ measures against
# Uses apt-get as root, sudo otherwise. Quick when everything is present.
set -euo pipefail

pkgs=(make gcc clang libclang-rt-14-dev libssl-dev openssl valgrind procps
	libyaml-dev libcbor-dev libsqlite3-dev libjansson-dev curl sqlite3 jq python3
	redis-server redis-tools nginx-light memcached libmemcached-tools strace
	etcd-server etcd-client spin auditd libauparse-dev rsyslog rsyslog-openssl
	chromium chromium-driver nodejs sudo tlog iproute2)
if [ "${1:-}" = "--bench" ]; then
	pkgs+=(gocryptfs fuse3 expect fio wrk swtpm libtss2-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
