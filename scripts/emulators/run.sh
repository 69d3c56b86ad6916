#!/bin/sh
# Local test servers for the cloud stores, all on 127.0.0.1:
#   s3     @20minutes/s3rver (SigV4-validating S3), bucket zarrtraj-test
#   moto   moto's S3 server (PyPI moto[server], as upstream Zarrtraj's tests use), bucket zarrtraj-test;
#          moto_server from $ZT_MOTO_SERVER or the newest venv (scripts/pyenv.sh newest)
#   azure  azurite blob service, account devstoreaccount1, container zarrtraj-test
#   gcs    the Firebase storage emulator's GCS JSON API (scripts/emulators/gcs-emulator.js)
#   https  nginx with a test CA (HTTPS + HTTP/2) and a plain HTTP port, serving $STATE/www
#          (HTML directory indexes), plus two plain HTTP ports on the same root: one
#          with JSON indexes (autoindex_format json), one without any listing
#
# Usage: run.sh install                 npm packages into $ZT_EMU_NPM (when missing)
#        run.sh start [--ttl S] [SVC..] start what is not running yet (default: all),
#                                       write the env file; --ttl: stop all after S
#                                       seconds unless started without --ttl
#        run.sh stop                    stop every process this script started
#        run.sh env | envfile | status
# Environment: ZT_EMU_NPM (default ~/.cache/zarrtraj/npm), ZT_EMU_DIR (state:
# pids, logs, data, env file; default /tmp/zarrtraj-emulators-UID).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
NPM_DIR=${ZT_EMU_NPM:-${XDG_CACHE_HOME:-$HOME/.cache}/zarrtraj/npm}
STATE=${ZT_EMU_DIR:-${TMPDIR:-/tmp}/zarrtraj-emulators-$(id -u)}
ENVF=$STATE/env
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
ALL="s3 moto azure gcs https"
AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
PKGS="@20minutes/s3rver@4.0.4 azurite@3.37.0 firebase-tools@15.34.2"

log() { echo "emulators: $*" >&2; }

installed() {
    [ -f "$NPM_DIR/node_modules/@20minutes/s3rver/lib/cli.js" ] &&
    [ -f "$NPM_DIR/node_modules/azurite/dist/src/blob/main.js" ] &&
    [ -f "$NPM_DIR/node_modules/firebase-tools/lib/emulator/storage/server.js" ]
}

do_install() {
    installed && return 0
    command -v npm >/dev/null 2>&1 || { log "npm not found (apt-get install nodejs npm)"; return 1; }
    mkdir -p "$NPM_DIR"
    log "installing $PKGS into $NPM_DIR"
    # --ignore-scripts: firebase-tools would otherwise build re2 for minutes.
    (cd "$NPM_DIR" && timeout 600 npm install --prefix "$NPM_DIR" --no-audit --no-fund \
        --ignore-scripts --loglevel=error $PKGS >"$NPM_DIR/install.log" 2>&1) ||
        { log "npm install failed (see $NPM_DIR/install.log)"; return 1; }
    installed
}

moto_server() {
    m=${ZT_MOTO_SERVER:-}
    if [ -z "$m" ]; then
        py=$(sh "$HERE/../pyenv.sh" path newest 2>/dev/null) && m=$(dirname "$py")/moto_server
    fi
    [ -n "$m" ] && [ -x "$m" ] && echo "$m"
}

alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
port_of() { cat "$STATE/$1.port"; }

# Start "$@" in its own session (so stop can kill the whole group), logging to $STATE/$svc.log.
spawn() {
    svc=$1; shift
    # 9>&-: the server must not inherit (and so hold) the lock of this script.
    setsid "$@" >"$STATE/$svc.log" 2>&1 </dev/null 9>&- &
    echo $! >"$STATE/$svc.pid"
}

make_certs() {
    c=$STATE/tls
    [ -f "$c/server.pem" ] && return 0
    mkdir -p "$c"
    # RFC 5280 extensions in full: strict verifiers (Python 3.13's default
    # VERIFY_X509_STRICT) refuse a CA without keyUsage or a leaf without AKI
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=zarrtraj test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" \
        -keyout "$c/ca.key" -out "$c/ca.pem" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$c/server.key" -out "$c/server.csr" >/dev/null 2>&1
    printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=critical,CA:FALSE' \
        'keyUsage=critical,digitalSignature,keyEncipherment' 'extendedKeyUsage=serverAuth' \
        'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid,issuer' >"$c/ext.cnf"
    openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial \
        -days 30 -extfile "$c/ext.cnf" -out "$c/server.pem" >/dev/null 2>&1
}

start_one() {
    svc=$1
    alive "$svc" && return 0
    port=$($PY "$HERE/emutool.py" freeport)
    echo "$port" >"$STATE/$svc.port"
    case $svc in
    s3)
        mkdir -p "$STATE/s3data"
        # Legacy provider: s3rver's listing code uses MD5 in a way OpenSSL 3 refuses.
        spawn s3 node --openssl-legacy-provider "$HERE/s3rver.js" "$NPM_DIR" -d "$STATE/s3data" \
            -a 127.0.0.1 -p "$port" --silent --configure-bucket zarrtraj-test ;;
    azure)
        mkdir -p "$STATE/azurite"
        spawn azure node "$NPM_DIR/node_modules/azurite/dist/src/blob/main.js" --blobHost 127.0.0.1 \
            --blobPort "$port" --location "$STATE/azurite" --skipApiVersionCheck --silent ;;
    gcs)
        spawn gcs node "$HERE/gcs-emulator.js" "$NPM_DIR" 127.0.0.1 "$port" ;;
    moto)
        moto=$(moto_server) || { log "moto_server not found (scripts/pyenv.sh newest, or ZT_MOTO_SERVER)"; return 1; }
        spawn moto "$moto" -H 127.0.0.1 -p "$port" ;;
    https)
        make_certs
        hport=$($PY "$HERE/emutool.py" freeport)
        echo "$hport" >"$STATE/http.port"
        jport=$($PY "$HERE/emutool.py" freeport)
        echo "$jport" >"$STATE/http-json.port"
        nport=$($PY "$HERE/emutool.py" freeport)
        echo "$nport" >"$STATE/http-nolist.port"
        mkdir -p "$STATE/www" "$STATE/nginx/tmp"
        chmod 755 "$STATE" "$STATE/www"
        cat >"$STATE/nginx/nginx.conf" <<CONF
worker_processes 1;
error_log $STATE/nginx/error.log warn;
pid $STATE/nginx/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $STATE/nginx/tmp;
    proxy_temp_path $STATE/nginx/tmp;
    fastcgi_temp_path $STATE/nginx/tmp;
    uwsgi_temp_path $STATE/nginx/tmp;
    scgi_temp_path $STATE/nginx/tmp;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port ssl http2;
        listen 127.0.0.1:$hport;
        ssl_certificate $STATE/tls/server.pem;
        ssl_certificate_key $STATE/tls/server.key;
        root $STATE/www;
        # directory indexes let zarrtraj list a zarrmd hierarchy over plain HTTP
        autoindex on;
        autoindex_format html;
    }
    server {
        listen 127.0.0.1:$jport;
        root $STATE/www;
        autoindex on;
        autoindex_format json;
    }
    server {
        listen 127.0.0.1:$nport;
        root $STATE/www;
        autoindex off;
    }
}
CONF
        spawn https nginx -p "$STATE/nginx" -c "$STATE/nginx/nginx.conf" -g "daemon off; user root;" ;;
    *) log "unknown service $svc"; return 1 ;;
    esac
    if ! $PY "$HERE/emutool.py" wait "$port" 60; then
        log "$svc did not start; log:"
        tail -20 "$STATE/$svc.log" >&2 || true
        return 1
    fi
    if [ "$svc" = moto ]; then
        $PY "$HERE/emutool.py" s3-mkbucket "http://127.0.0.1:$port" zarrtraj-test ||
            { log "cannot create the moto bucket"; return 1; }
    fi
    if [ "$svc" = azure ]; then
        $PY "$HERE/emutool.py" azure-mkcontainer "http://127.0.0.1:$port/devstoreaccount1" \
            devstoreaccount1 "$AZ_KEY" zarrtraj-test || { log "cannot create the azure container"; return 1; }
    fi
    log "$svc listening on 127.0.0.1:$port"
}

write_env() {
    tmp=$ENVF.tmp
    : >"$tmp"
    if alive s3; then
        p=$(port_of s3)
        cat >>"$tmp" <<E
ZT_S3_ENDPOINT=http://127.0.0.1:$p
ZT_S3_BUCKET=zarrtraj-test
ZT_S3_KEY=S3RVER
ZT_S3_SECRET=S3RVER
E
    fi
    if alive moto; then
        cat >>"$tmp" <<E
ZT_MOTO_ENDPOINT=http://127.0.0.1:$(port_of moto)
ZT_MOTO_BUCKET=zarrtraj-test
E
    fi
    if alive azure; then
        p=$(port_of azure)
        cat >>"$tmp" <<E
ZT_AZURE_ENDPOINT=http://127.0.0.1:$p/devstoreaccount1
ZT_AZURE_ACCOUNT=devstoreaccount1
ZT_AZURE_KEY=$AZ_KEY
ZT_AZURE_CONTAINER=zarrtraj-test
E
    fi
    if alive gcs; then
        p=$(port_of gcs)
        cat >>"$tmp" <<E
ZT_GCS_ENDPOINT=http://127.0.0.1:$p
STORAGE_EMULATOR_HOST=http://127.0.0.1:$p
ZT_GCS_BUCKET=zarrtraj-test
E
    fi
    if alive https; then
        cat >>"$tmp" <<E
ZT_HTTPS_URL=https://localhost:$(port_of https)
ZT_HTTP_URL=http://127.0.0.1:$(cat "$STATE/http.port")
ZT_HTTP_ROOT=$STATE/www
ZT_TEST_CA=$STATE/tls/ca.pem
E
        if [ -f "$STATE/http-json.port" ]; then
            cat >>"$tmp" <<E
ZT_HTTP_JSON_URL=http://127.0.0.1:$(cat "$STATE/http-json.port")
ZT_HTTP_NOLIST_URL=http://127.0.0.1:$(cat "$STATE/http-nolist.port")
E
        fi
    fi
    mv "$tmp" "$ENVF"
}

stop_pid() {
    pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

do_stop() {
    [ -d "$STATE" ] || return 0
    if [ -f "$STATE/watchdog.pid" ]; then
        w=$(cat "$STATE/watchdog.pid"); rm -f "$STATE/watchdog.pid"
        [ "$w" != "${ZT_EMU_WATCHDOG:-}" ] && stop_pid "$w"
    fi
    for svc in $ALL; do
        if [ -f "$STATE/$svc.pid" ]; then
            stop_pid "$(cat "$STATE/$svc.pid")"
            rm -f "$STATE/$svc.pid"
        fi
    done
    rm -f "$ENVF" "$STATE/owner"
    log "stopped"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
install) do_install ;;
start)
    ttl=""
    if [ "${1:-}" = --ttl ]; then ttl=$2; shift 2; fi
    svcs=${*:-$ALL}
    if [ $# -eq 0 ] && ! moto_server >/dev/null; then
        log "moto_server not found (scripts/pyenv.sh newest): starting without moto"
        svcs=$(echo "$svcs" | sed 's/ moto//')
    fi
    mkdir -p "$STATE"
    exec 9>"$STATE/lock"
    flock -w 600 9 || { log "lock busy"; exit 1; }
    need_npm=no
    for s in $svcs; do case $s in s3|azure|gcs) need_npm=yes ;; esac; done
    if [ $need_npm = yes ]; then do_install || exit 1; fi
    started=""
    for s in $svcs; do
        if alive "$s"; then continue; fi
        if ! start_one "$s"; then
            # Leave nothing half-started behind.
            [ -f "$STATE/$s.pid" ] && stop_pid "$(cat "$STATE/$s.pid")" && rm -f "$STATE/$s.pid"
            for t in $started; do stop_pid "$(cat "$STATE/$t.pid")"; rm -f "$STATE/$t.pid"; done
            write_env
            exit 1
        fi
        started="$started $s"
    done
    write_env
    if [ -z "$ttl" ]; then
        echo manual >"$STATE/owner"
        [ -f "$STATE/watchdog.pid" ] && stop_pid "$(cat "$STATE/watchdog.pid")" && rm -f "$STATE/watchdog.pid"
    elif [ "$(cat "$STATE/owner" 2>/dev/null)" != manual ]; then
        # Bounded lifetime when a test started the servers on its own.
        [ -f "$STATE/watchdog.pid" ] && stop_pid "$(cat "$STATE/watchdog.pid")"
        setsid sh -c 'sleep "$1"; ZT_EMU_WATCHDOG=$$ exec sh "$2" stop' sh "$ttl" "$0" \
            >/dev/null 2>&1 </dev/null 9>&- &
        echo $! >"$STATE/watchdog.pid"
    fi
    echo "$ENVF"
    ;;
stop)
    mkdir -p "$STATE"
    exec 9>"$STATE/lock"
    flock -w 120 9 || true
    do_stop ;;
env) cat "$ENVF" ;;
envfile) echo "$ENVF" ;;
status)
    for s in $ALL; do
        if alive "$s"; then echo "$s: running on 127.0.0.1:$(port_of "$s")"; else echo "$s: stopped"; fi
    done ;;
*) sed -n '2,19p' "$0"; exit 2 ;;
esac
