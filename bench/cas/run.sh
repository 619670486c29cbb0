#!/usr/bin/env bash
# CAS benchmark: attestations with configuration fetch vs plain TLS 1.3 handshakes
# against the same CAS, in one run, with 1 and 64 concurrent clients on loopback.
# See bench/README.md.
#
#   bench/cas/run.sh        (against an existing build/release: make BUILD=release)
#
# Environment:
#   BENCH_SECONDS   timed seconds of each measurement (default 10)
#   BENCH_WARMUP    untimed seconds before each measurement (default 2)
#   BENCH_REPEAT    rounds of all measurements in this run (default 1); the summary
#                   shows the round with the median ops/s of each line
#   BENCH_CLIENTS   comma-separated client counts (default 1,64)
#   BENCH_RATE      attestations/s the open-loop run offers (default 300), from
#   BENCH_RATE_CLIENTS clients (default 64): latency under load, not at saturation
#   BENCH_DIR       parent of the scratch directory (default /var/tmp; never tmpfs:
#                   the CAS fsyncs every group commit)
#   BENCH_KEEP=1    keep the scratch directory (default: removed, also on error)
#   SHELTER_LIB     the static library casbench links
#                   (default build/release/lib/libshelter.a)
#   SHELTER_BIN     the shelter binary that runs the CAS (default: bin/shelter of the
#                   same build directory as SHELTER_LIB)
#
# Prints timings; never fails on them (only on errors).
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD
source bench/lib.sh

scripts/install-deps.sh

lib=${SHELTER_LIB:-build/release/lib/libshelter.a}
variant=$(dirname "$(dirname "$lib")")
shelter=${SHELTER_BIN:-$variant/bin/shelter}
for f in "$lib" "$shelter"; do
	if [ ! -f "$f" ]; then
		echo "run.sh: $f not found: run 'make BUILD=release' first (or set SHELTER_LIB, SHELTER_BIN)" >&2
		exit 1
	fi
done
shelter=$(realpath "$shelter")
for v in BENCH_SECONDS BENCH_WARMUP BENCH_REPEAT; do
	case ${!v-1} in '' | *[!0-9]*) echo "run.sh: $v must be a whole number" >&2; exit 2 ;; esac
done
seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP:-2}
repeat=${BENCH_REPEAT:-1}
clients=${BENCH_CLIENTS:-1,64}
open_rate=${BENCH_RATE:-300}
open_clients=${BENCH_RATE_CLIENTS:-64}
if [ "$seconds" -lt 1 ] || [ "$repeat" -lt 1 ] || [ "$repeat" -gt 16 ]; then
	echo "run.sh: BENCH_SECONDS must be >= 1 and BENCH_REPEAT 1..16" >&2
	exit 2
fi
case $clients in '' | *[!0-9,]*) echo "run.sh: BENCH_CLIENTS must look like 1,64" >&2; exit 2 ;; esac

# The program goes next to the library it links, i.e. inside that build variant.
out=$variant/bench
mkdir -p "$out"
if ! cc -O2 -g -std=c17 -D_GNU_SOURCE -Wall -Wextra -Isrc/lib -Iinclude bench/cas/casbench.c \
	"$lib" -lssl -lcrypto -lcbor -ljansson -lpthread -o "$out/casbench"; then
	echo "run.sh: casbench does not build against $lib: is that build older than the" \
		"sources? (make O=$variant BUILD=release all)" >&2
	exit 1
fi
casbench=$(realpath "$out/casbench")

bench_disk_parent
base=$(mktemp -d "$parent/shelter-casbench.XXXXXX")
cas_pid=
bench_pid=

stop_cas() {
	local rc=0
	[ -n "$cas_pid" ] || return 0
	kill -TERM "$cas_pid" 2>/dev/null || true
	wait "$cas_pid" || rc=$?
	cas_pid=
	return "$rc"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	cd "$root"
	bench_stop_pid "$bench_pid"
	if [ -n "$cas_pid" ]; then
		stop_cas || true
		echo "run.sh: CAS log (last lines):" >&2
		tail -n 5 "$base/cas.log" >&2 || true
	fi
	bench_drop_scratch
	exit "$rc"
}
bench_traps cleanup

# ---- scratch provider, platform, CAS, owner, session (docs/api/cas.md) ----
quiet() { "$@" >>"$base/setup.log" 2>&1 || { echo "run.sh: failed: $*" >&2; cat "$base/setup.log" >&2; exit 1; }; }

quiet "$shelter" provider init "$base/prov" --name bench-provider
quiet "$shelter" platform init --dir "$base/plat" --name bench-platform
quiet "$shelter" provider enroll "$base/prov" "$base/plat/platform.csr" --out "$base/plat.crt"
quiet "$shelter" platform install-cert --dir "$base/plat" "$base/plat.crt"

"$shelter" cas serve --listen 127.0.0.1:0 --data "$base/data" --platform "$base/plat" \
	2>"$base/cas.log" &
cas_pid=$!
for _ in $(seq 300); do
	[ -s "$base/data/cas.addr" ] && break
	kill -0 "$cas_pid" 2>/dev/null || { echo "run.sh: the CAS did not start:" >&2; cat "$base/cas.log" >&2; cas_pid=; exit 1; }
	sleep 0.1
done
[ -s "$base/data/cas.addr" ] || { echo "run.sh: the CAS wrote no $base/data/cas.addr within 30 s" >&2; exit 1; }
addr=$(cat "$base/data/cas.addr")
cas_url=https://$addr
cas_crt=$base/data/cas.crt

quiet "$shelter" session keygen "$base/owner.key"
measurement=$("$casbench" --print-measurement --program /bin/true)

# The session: sim quotes from this provider's platforms, the measurement of
# /bin/true, a password (in argv and the environment), an X.509 certificate and key
# (as files) and a volume: every part of the configuration path of the CAS runs.
{
	cat <<EOF
name: bench
accept:
  measurements: [$measurement]
  providers:
    - name: bench-provider
      ca: |
EOF
	sed 's/^/        /' "$base/prov/ca.crt"
	cat <<'EOF'
  allow_sim: true
secrets:
  - name: pw
    kind: password
    size: 32
  - name: tls
    kind: x509
    common_name: bench.example
    dns: [bench.example]
launch:
  args: ["/bin/true", "--password", "{{pw}}"]
  env:
    BENCH_PASSWORD: "{{pw}}"
  files:
    /run/secrets/tls.crt: "{{tls.cert}}"
    /run/secrets/tls.key: "{{tls.key}}"
volumes:
  - name: data
    path: /data
EOF
} >"$base/bench.yaml"
quiet "$shelter" session apply "$base/bench.yaml" --cas "$cas_url" --cas-cert "$cas_crt" \
	--owner-key "$base/owner.key"

# The CAS accepts quotes only once it holds the provider's CRL (cas.md §6).
jq -n --rawfile c "$base/prov/crl.pem" '{crl: $c}' >"$base/crl.json"
code=$(curl -sS -o "$base/crl.answer" -w '%{http_code}' --cacert "$cas_crt" -X PUT \
	-H 'Content-Type: application/json' --data-binary @"$base/crl.json" "$cas_url/v1/crls")
if [ "$code" != 200 ]; then
	echo "run.sh: CRL upload answered $code: $(cat "$base/crl.answer")" >&2
	exit 1
fi

echo "== Shelter CAS benchmark, $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
echo "scratch: $base ($(findmnt -n -o FSTYPE,SOURCE -T "$base" | head -1))"
echo "CAS: $shelter cas serve, pid $cas_pid, $cas_url ($(grep -o 'workers=[0-9]*' "$base/cas.log" | head -1) threads)"
echo "casbench: $casbench, linked with $lib"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') x $(nproc); kernel $(uname -r); $(openssl version)"
echo "client and CAS share these CPUs: the load generator's cost is in every figure"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine adds noise)"
echo

# In the background, so that a signal to this script runs cleanup at once.
"$casbench" --cas "$cas_url" --cas-cert "$cas_crt" --session bench --platform "$base/plat" \
	--program /bin/true --modes tls,attest --clients "$clients" --seconds "$seconds" \
	--warmup "$warmup" --repeat "$repeat" --server-pid "$cas_pid" --server-log "$base/cas.log" &
bench_pid=$!
wait "$bench_pid"
bench_pid=

# Latency under a given load: 64 clients together offering BENCH_RATE attestations
# per second on a schedule (open loop). Closed loop above measures the most the CAS
# does; there the latency is only the queue (Little's law).
echo
echo "== open loop: ${open_clients} clients offering ${open_rate} attestations/s"
"$casbench" --cas "$cas_url" --cas-cert "$cas_crt" --session bench --platform "$base/plat" \
	--program /bin/true --modes attest --clients "$open_clients" --rate "$open_rate" \
	--seconds "$seconds" --warmup "$warmup" --server-pid "$cas_pid" \
	--server-log "$base/cas.log" | sed -n '/== summary/,/^$/p' &
bench_pid=$!
wait "$bench_pid"
bench_pid=

echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "CAS store after the run: $(du -sh "$base/data" | cut -f1)"
rc=0
stop_cas || rc=$?
echo "CAS stopped by SIGTERM (exit status $rc); its last log line:"
echo "  $(tail -n 1 "$base/cas.log")"
[ "$rc" -eq 0 ] || exit 1
