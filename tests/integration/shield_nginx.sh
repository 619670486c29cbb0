#!/usr/bin/env bash
# Debian's nginx, unmodified, under the shield (issue 4 items 4 and 5): it serves
# static files of 4 KiB and 1 MiB from a protected volume with `sendfile on` (the
# shield copies through its own read and write: the kernel only has ciphertext),
# and keeps serving them after a restart. nginx puts the files into its volume itself,
# by WebDAV PUT: in embedded mode only the same program with the same volume list has
# the key. In CAS mode it serves HTTPS with a certificate and key that the session
# delivers under /run/secrets, checked by curl --cacert with the session CA. A volume
# tampered with or rolled back while nginx is stopped is refused; SIGKILL during
# uploads loses no acknowledged upload; no canary reaches the host, on disk or in a
# traced write into a file.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
SUITE=shield_nginx
source "$(dirname "$0")/shield_lib.sh"
NG=/usr/sbin/nginx
shield_setup "$NG" curl openssl python3 strace
C=$(canary nginx)

# the files to serve: canaries with random bytes between them, 4 KiB and 1 MiB
make_file() { # make_file NAME SIZE
	python3 -c 'import os, sys
c, size = sys.argv[1], int(sys.argv[2])
lines = ("%s-%06d-%s\n" % (c, i, os.urandom(12).hex()) for i in range(size // 16))
sys.stdout.write("".join(lines)[:size])' "$C" "$2" >"$1"
}
make_file f4k 4096
make_file f1m 1048576
[ "$(stat -c %s f4k) $(stat -c %s f1m)" = "4096 1048576" ] || fail file_sizes "$(stat -c %s f4k f1m)"

# ngx_conf PREFIX PORT ROOT [SSL_DIR PLAIN_PORT]: nginx.conf for -p PREFIX: pid, logs
# and temp files in PREFIX, uploads' temp files inside the volume (a rename must stay
# in it); with SSL_DIR, HTTPS on PORT and plain HTTP on PLAIN_PORT
ngx_conf() {
	local p=$1 port=$2 root=$3 ssl=${4:-} listen
	mkdir -p "$p"
	listen="listen 127.0.0.1:$port;"
	[ -n "$ssl" ] && listen="listen 127.0.0.1:$port ssl;
    listen 127.0.0.1:$5;
    ssl_certificate $ssl/tls.crt;
    ssl_certificate_key $ssl/tls.key;"
	cat <<EOF
daemon off;
master_process on;
worker_processes 1;
user root;
pid $p/nginx.pid;
events { worker_connections 64; }
http {
  access_log $p/access.log;
  client_body_temp_path $root/.tmp;
  proxy_temp_path $p/proxy;
  fastcgi_temp_path $p/fastcgi;
  uwsgi_temp_path $p/uwsgi;
  scgi_temp_path $p/scgi;
  sendfile on;
  default_type application/octet-stream;
  server {
    $listen
    root $root/www;
    client_max_body_size 4m;
    location / { dav_methods PUT DELETE; create_full_put_path on; }
  }
}
EOF
}
# ngx_start LOG VOL [TRACE]: nginx (embedded mode) on volume $w/VOL mounted at /srv;
# sets npid (with TRACE: strace's pid) and nport
ngx_start() {
	local log=$1 vol=$2 trace=${3:-} pre=()
	nport=$(free_port)
	ngx_conf "$w/ngx" "$nport" /srv >"$w/ngx.conf"
	[ -n "$trace" ] && trace_prepare "$trace" "$C" && pre=("${traced[@]}")
	start_bg "$log" "${pre[@]}" "$S" run --volume "$w/$vol:/srv" -- "$NG" -p "$w/ngx/" -e stderr -c "$w/ngx.conf"
	npid=$bg_pid
	wait_port "$nport" "$npid"
}
url() { echo "http://127.0.0.1:$nport/$1"; }
put() { curl -sS -o /dev/null -w '%{http_code}' -T "$2" "$(url "$1")"; } # put PATH FILE
sha() { sha256sum | cut -c1-64; }
# served NAME PATH FILE: GET PATH returns exactly FILE
served() {
	local got
	got=$(curl -sSf "$(url "$2")" | sha)
	[ "$got" = "$(sha <"$3")" ] && pass "$1" || fail "$1" "sha256 $got"
}

# --- the control: this configuration makes nginx call sendfile (natively) ----------------
mkdir -p native/www native/.tmp && cp f1m native/www/
nport=$(free_port)
ngx_conf "$w/nngx" "$nport" "$w/native" >nngx.conf
start_bg native.log strace -f -qq -e trace=sendfile -o native.trace "$NG" -p "$w/nngx/" -e stderr -c "$w/nngx.conf"
npid=$bg_pid
wait_port "$nport" "$npid" && served native_serves f1m f1m
kill -QUIT "$(trace_pid "$npid")"
stopped native_stop "$npid" -
grep -q '^[0-9]* *sendfile(' native.trace && pass native_uses_sendfile ||
	fail native_uses_sendfile "no sendfile call: $(head -c 300 native.trace)"

# --- embedded mode: nginx uploads into its own volume, serves, restarts ---------------------
ngx_start e1.log www "$w/www.trace" && pass start || fail start "$(tail -3 e1.log)"
grep -q 'volume /srv: created in' e1.log && pass volume_created || fail volume_created "$(head -3 e1.log)"
[ "$(put f4k f4k) $(put dir/sub/f1m f1m)" = "201 201" ] && pass put_files || fail put_files "$(tail -3 e1.log)"
[ "$(put f4k f4k)" = 204 ] && pass put_replaces || fail put_replaces
served serve_4k f4k f4k
served serve_1m dir/sub/f1m f1m
got=$(curl -sSf -r 1000-99999 "$(url dir/sub/f1m)" | sha)
[ "$got" = "$(tail -c +1001 f1m | head -c 99000 | sha)" ] && pass serve_range || fail serve_range "sha256 $got"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$(url nothing)")" = 404 ] && pass missing_404 || fail missing_404
kill -QUIT "$(trace_pid "$npid")" # nginx's graceful stop
stopped graceful_stop "$npid" -
check_trace no_plaintext_in_file_writes www.trace "$w/www"
# the kernel never sends from the volume's files: they hold ciphertext
grep -E '^[0-9]+ +sendfile\(' www.trace.short >www.sendfile
if grep -qF "<$w/www/" www.sendfile; then
	fail no_kernel_sendfile_of_ciphertext "$(grep -F "<$w/www/" www.sendfile | head -c 300)"
else
	pass no_kernel_sendfile_of_ciphertext
fi
ngx_start e2.log www && pass restart || fail restart "$(tail -3 e2.log)"
served serve_4k_after_restart f4k f4k
served serve_1m_after_restart dir/sub/f1m f1m
stopped stop_after_restart "$npid" QUIT
no_plaintext no_plaintext_on_host "$C" www ngx state plat

# --- tampering while stopped ---------------------------------------------------------------------
cp -a www www.old
ngx_start e3.log www && [ "$(put later f4k)" = 201 ] && pass moves_on || fail moves_on "$(tail -3 e3.log)"
stopped moves_on_stop "$npid" QUIT
mv www www.new && cp -a www.old www
ngx_start r.log www
stop_bg "$npid" KILL 0
rc=$?
[ $rc -eq 126 ] && refused_volume r.log /srv www 'rolled back.*stale' && pass rollback_refused ||
	fail rollback_refused "exit $rc: $(tail -3 r.log)"
rm -rf www && mv www.new www
# flipped bits: refused at start, or found when read (an error to the client and a
# security event); never wrong bytes served
cp -a www www.good
for t in 1 2 3; do
	seg=$(biggest_segment www)
	off=$(flip_random "$seg")
	if ! ngx_start "t$t.log" www; then
		stop_bg "$npid" KILL 0
		tamper_outcome "tamper_$t" $? "t$t.log" /srv www "bit at $off of $(basename "$seg")"
	else
		bad=
		for f in f4k:f4k dir/sub/f1m:f1m later:f4k; do
			got=$(curl -sSf "$(url "${f%%:*}")" 2>/dev/null | sha)
			[ "$got" = "$(sha <"${f#*:}")" ] || [ "$got" = "$(sha </dev/null)" ] || bad="$bad ${f%%:*}"
		done
		if grep -q 'security:' "t$t.log" && [ -z "$bad" ]; then
			pass "tamper_${t}_found_when_read"
		else
			fail "tamper_${t}_refused" "bit at $off of $(basename "$seg") undetected; wrong bytes:$bad"
		fi
		stop_bg "$npid" KILL
	fi
	rm -rf www && cp -a www.good www
done
ngx_start e4.log www && served intact_again later f4k
stopped intact_stop "$npid" QUIT

# --- SIGKILL during uploads ---------------------------------------------------------------------
# A client PUTs k/1, k/2, ... (4 KiB each) one at a time and records each 201; nginx
# (master and worker) is killed at a random moment, then every recorded upload must
# be served whole.
cat >uploader.py <<'EOF'
# uploader.py PORT VALUE put ACKED: PUT /k/1, /k/2, ... until an error, appending
#   each acknowledged i to the file ACKED
# uploader.py PORT VALUE check N: print each i of 1..N whose GET is not exact
import http.client, sys
port, value, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
body = lambda i: ("%s-k-%d\n" % (value, i)).encode() * 64
if mode == "put":
    acked, i = open(sys.argv[4], "w"), 0
    while True:
        i += 1
        try:
            c.request("PUT", "/k/%d" % i, body(i))
            r = c.getresponse()
            r.read()
        except Exception:
            break
        if r.status not in (201, 204):
            break
        acked.write("%d\n" % i)
        acked.flush()
else:
    for i in range(1, int(sys.argv[4]) + 1):
        c.request("GET", "/k/%d" % i)
        r = c.getresponse()
        if r.read() != body(i) or r.status != 200:
            print(i, r.status)
EOF
ngx_start k1.log www || fail kill_start "$(tail -3 k1.log)"
start_bg uploader.log python3 uploader.py "$nport" "$C" put acked
upid=$bg_pid
wait_until 20 test -s acked
sleep "0.$((RANDOM % 5 + 3))"
kill_group "$npid"
stop_bg "$upid" - 20
n=$(wc -l <acked)
ngx_start k2.log www && pass restart_after_kill || fail restart_after_kill "$(tail -3 k2.log)"
bad=$(python3 uploader.py "$nport" "$C" check "$n" 2>&1 | tr '\n' ' ')
if [ "$n" -lt 5 ]; then
	fail every_acked_upload "only $n uploads acknowledged: $(tail -3 uploader.log)"
elif [ -n "$bad" ]; then
	fail every_acked_upload "of $n acknowledged, wrong or missing: $(head -c 200 <<<"$bad")"
else
	pass every_acked_upload
fi
echo "# $n uploads acknowledged before SIGKILL"
served serve_after_kill dir/sub/f1m f1m
stopped stop_after_kill "$npid" QUIT
no_plaintext kill_no_plaintext_on_host "$C" www ngx state

# --- CAS mode: HTTPS with the certificate and key the session delivers -------------------------
# The session CA reaches the client through the session too (policy.md §10.2): a
# second program of the same session, cat, prints {{tls.ca}}; curl then trusts only it.
mkdir cas && cd cas || exit 1
cas_pid=
start_cas() {
	start_bg cas.log "$S" cas serve --listen 127.0.0.1:0 --data data --platform plat1
	cas_pid=$bg_pid
	wait_until 10 test -s data/cas.addr || return 1
	SHELTER_CAS_URL=https://$(cat data/cas.addr)
	export SHELTER_CAS_URL SHELTER_CAS_CERT=$PWD/data/cas.crt
}
if "$S" provider init acme --name acme >/dev/null && "$S" platform init --dir plat1 --name node-1 >/dev/null &&
	"$S" provider enroll acme plat1/platform.csr --out p1.crt >/dev/null 2>&1 &&
	"$S" platform install-cert --dir plat1 p1.crt >/dev/null && start_cas &&
	"$S" session keygen owner.key >/dev/null; then
	pass cas_setup
else
	fail cas_setup "$(cat cas.log 2>/dev/null)"
	exit 1
fi
nport=$(free_port)
pport=$(free_port)
NGX=("$NG" -p "$w/cas/ngx/" -e stderr -c /run/secrets/nginx.conf)
CAT=(/bin/cat /run/secrets/ca.crt)
M1=$("$S" measure --shield "$SHELTER_SHIELD_LIB" --volume /srv -- "${NGX[@]}")
M2=$("$S" measure --shield "$SHELTER_SHIELD_LIB" --volume /srv -- "${CAT[@]}")
cat >web.yaml <<EOF
name: web
accept:
  measurements: [$M1, $M2]
  providers:
    - name: acme
      ca: |
$(sed 's/^/        /' acme/ca.crt)
  allow_sim: true
secrets:
  - name: tls
    kind: x509
    common_name: localhost
    ip: [127.0.0.1]
    days: 1
launch:
  host_args: true
  files:
    /run/secrets/tls.crt: "{{tls.chain}}"
    /run/secrets/tls.key: "{{tls.key}}"
    /run/secrets/ca.crt: "{{tls.ca}}"
    /run/secrets/nginx.conf: |
$(ngx_conf "$w/cas/ngx" "$nport" /srv /run/secrets "$pport" | sed 's/^/      /')
volumes:
  - name: www
    path: /srv
EOF
"$S" session apply web.yaml --owner-key owner.key >/dev/null && "$S" provider publish acme >/dev/null &&
	pass cas_session || fail cas_session "$(tail -3 cas.log)"
R=(run --session web --platform plat1 --volume "$w/cas/swww:/srv")
"$S" "${R[@]}" -- "${CAT[@]}" >ca.pem 2>cat.log
grep -q 'BEGIN CERTIFICATE' ca.pem && pass cas_client_gets_ca || fail cas_client_gets_ca "$(tail -3 cat.log)"
trace_prepare "$w/cas/tls.trace" "$C"
start_bg tls.log "${traced[@]}" "$S" "${R[@]}" -- "${NGX[@]}"
npid=$bg_pid
wait_port "$nport" "$npid" && pass cas_nginx_start || fail cas_nginx_start "$(tail -3 tls.log)"
U="https://127.0.0.1:$nport"
code=$(curl -sS --cacert ca.pem -o /dev/null -w '%{http_code}' -T ../f1m "$U/f1m")
[ "$code" = 201 ] && pass https_put || fail https_put "$code $(tail -3 tls.log)"
got=$(curl -sSf --cacert ca.pem "$U/f1m" | sha)
[ "$got" = "$(sha <../f1m)" ] && pass https_serves_1m || fail https_serves_1m "$got"
curl -sS -o /dev/null "$U/f1m" 2>/dev/null && fail https_untrusted_refused || pass https_untrusted_refused
# plain HTTP too: the canary in a reply to a client shows the trace holds the buffers
got=$(curl -sSf "http://127.0.0.1:$pport/f1m" | sha)
[ "$got" = "$(sha <../f1m)" ] && pass http_serves_1m || fail http_serves_1m "$got"
# the key exists on the host only as ciphertext in the secrets volume
sdir=$(grep -o '/dev/shm/shelter-secrets-[A-Za-z0-9]*' tls.trace.short 2>/dev/null | head -1)
[ -z "$sdir" ] && sdir=$(grep -o '/[^<>]*shelter-secrets-[A-Za-z0-9]*' tls.trace.short | head -1)
if [ -n "$sdir" ] && [ -d "$sdir" ] && ! grep -rqa 'PRIVATE KEY' "$sdir"; then
	pass tls_key_ciphertext_on_host
else
	fail tls_key_ciphertext_on_host "secrets dir '$sdir'"
fi
kill -QUIT "$(trace_pid "$npid")"
stopped cas_graceful_stop "$npid" -
check_trace cas_no_plaintext_in_file_writes tls.trace "$w/cas/swww"
grep -q 'PRIVATE KEY' tls.trace.short tls.trace.canary && fail tls_key_never_written || pass tls_key_never_written
[ -n "$sdir" ] && [ ! -e "$sdir" ] && pass secrets_removed_at_exit || fail secrets_removed_at_exit "$sdir"
start_bg tls2.log "$S" "${R[@]}" -- "${NGX[@]}"
npid=$bg_pid
wait_port "$nport" "$npid" && pass cas_restart || fail cas_restart "$(tail -3 tls2.log)"
got=$(curl -sSf --cacert ca.pem "$U/f1m" | sha)
[ "$got" = "$(sha <../f1m)" ] && pass https_serves_after_restart || fail https_serves_after_restart "$got"
stopped cas_stop_again "$npid" QUIT
no_plaintext cas_no_plaintext_on_host "$C" swww
stop_bg "$cas_pid" TERM || fail cas_stop "$(tail -3 cas.log)"
[ "$fails" -eq 0 ]
