#!/usr/bin/env bash
# MinIO for berth's S3 tests.
#
#   scripts/minio.sh install               go install the pinned MinIO unless it is already there
#   scripts/minio.sh start DATA_DIR PORT   start it on 127.0.0.1:PORT unless one already answers there
#                                          (another checkout's: tests make buckets of their own),
#                                          wait until healthy, print the test env on stdout:
#                                            eval "$(scripts/minio.sh start /tmp/minio/data 9100)"
#   scripts/minio.sh stop DATA_DIR         stop the server this script started for DATA_DIR
#
# Env: MINIO_ROOT_USER / MINIO_ROOT_PASSWORD (default berthtest / berthtest-secret),
#      MINIO_CONSOLE_PORT (default PORT+1), MINIO_START_TIMEOUT seconds (default 60).
set -euo pipefail

MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
MINIO_MODULE="github.com/minio/minio"

export MINIO_ROOT_USER="${MINIO_ROOT_USER:-berthtest}"
export MINIO_ROOT_PASSWORD="${MINIO_ROOT_PASSWORD:-berthtest-secret}"

log() { printf 'minio.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { die "usage: $0 install | start DATA_DIR PORT | stop DATA_DIR"; }

# Where `go install` puts binaries: GOBIN, else the first GOPATH entry's bin.
bin_path() {
	local gobin
	gobin="$(go env GOBIN)"
	if [[ -z "$gobin" ]]; then
		gobin="$(go env GOPATH)"
		gobin="${gobin%%:*}/bin"
	fi
	printf '%s/minio' "$gobin"
}

# healthy PORT: true when MinIO's liveness endpoint answers 200.
healthy() {
	local url="http://127.0.0.1:$1/minio/health/live"
	if command -v curl >/dev/null; then
		curl -fsS -o /dev/null -m 2 "$url" 2>/dev/null
	else
		timeout 3 bash -c '
			exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
			printf "GET /minio/health/live HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
			read -r _ code _ <&3 && [[ "$code" == 200 ]]' "$1" 2>/dev/null
	fi
}

# wait_healthy PORT SECONDS: true once MinIO answers on PORT within SECONDS.
wait_healthy() {
	local deadline=$((SECONDS + $2))
	until healthy "$1"; do
		((SECONDS < deadline)) || return 1
		sleep 0.5
	done
}

cmd_install() {
	local bin
	bin="$(bin_path)"
	if [[ -x "$bin" ]]; then
		log "$bin already installed"
		return
	fi
	log "installing $MINIO_MODULE@$MINIO_VERSION (takes a few minutes)"
	go install "$MINIO_MODULE@$MINIO_VERSION"
	[[ -x "$bin" ]] || die "go install finished but $bin is missing"
}

print_env() {
	printf 'export BERTH_TEST_S3_ENDPOINT=127.0.0.1:%s\n' "$1"
	printf 'export BERTH_TEST_S3_ACCESS_KEY=%s\n' "$MINIO_ROOT_USER"
	printf 'export BERTH_TEST_S3_SECRET_KEY=%s\n' "$MINIO_ROOT_PASSWORD"
}

cmd_start() {
	[[ $# -eq 2 ]] || usage
	local data="$1" port="$2"
	[[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
	local console="${MINIO_CONSOLE_PORT:-$((port + 1))}"
	local timeout_s="${MINIO_START_TIMEOUT:-60}"

	if healthy "$port"; then
		log "MinIO already answers on 127.0.0.1:$port (credentials from the env are assumed to match)"
		print_env "$port"
		return
	fi

	local bin
	bin="$(bin_path)"
	[[ -x "$bin" ]] || die "$bin not found; run: $0 install"
	mkdir -p "$data"
	data="$(realpath "$data")"
	local logfile pidfile
	logfile="$(dirname "$data")/minio.log"
	pidfile="$(dirname "$data")/minio.pid"

	log "starting MinIO on 127.0.0.1:$port (console 127.0.0.1:$console), data $data, log $logfile"
	MINIO_UPDATE=off MINIO_BROWSER_REDIRECT=off nohup "$bin" server \
		--address "127.0.0.1:$port" --console-address "127.0.0.1:$console" \
		"$data" </dev/null >>"$logfile" 2>&1 &
	local pid=$!
	echo "$pid" >"$pidfile"

	local deadline=$((SECONDS + timeout_s))
	until healthy "$port"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$pidfile"
			# Another checkout's scripts/test may have started one on this
			# port a moment before us: ours then cannot bind, and theirs will do.
			if wait_healthy "$port" 10; then
				log "MinIO (pid $pid) exited, but another MinIO now answers on 127.0.0.1:$port; using it"
				print_env "$port"
				return
			fi
			tail -n 20 "$logfile" >&2 || true
			die "MinIO (pid $pid) exited before becoming healthy; log: $logfile"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 20 "$logfile" >&2 || true
			die "MinIO (pid $pid) not healthy on http://127.0.0.1:$port/minio/health/live after ${timeout_s}s; log: $logfile"
		fi
		sleep 0.5
	done
	if ! kill -0 "$pid" 2>/dev/null; then
		rm -f "$pidfile"
		log "MinIO (pid $pid) exited, but another MinIO answers on 127.0.0.1:$port; using it"
	else
		log "MinIO healthy (pid $pid)"
	fi
	print_env "$port"
}

cmd_stop() {
	[[ $# -eq 1 ]] || usage
	local pidfile pid
	pidfile="$(dirname "$(realpath -m "$1")")/minio.pid"
	[[ -f "$pidfile" ]] || die "no $pidfile; nothing started by this script for $1"
	pid="$(cat "$pidfile")"
	# The pid may have been reused since; only stop it if it is still a MinIO.
	if [[ "$(ps -p "$pid" -o comm= 2>/dev/null)" == minio* ]] && kill "$pid"; then
		log "stopped MinIO (pid $pid)"
	else
		log "MinIO (pid $pid) was not running"
	fi
	rm -f "$pidfile"
}

case "${1:-}" in
install) shift; cmd_install "$@" ;;
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
*) usage ;;
esac
