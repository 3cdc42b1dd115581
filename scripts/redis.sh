# shellcheck shell=bash
# scripts/redis.sh: sourced by bench.sh and chaos.sh, which define log.

# ensure_redis_server BIN APTLOG makes BIN runnable: when it is missing and
# we are root with apt-get, it installs Debian's redis-server, logging to
# APTLOG. It returns 1 if BIN is still missing.
ensure_redis_server() {
	local bin=$1 aptlog=$2
	command -v "$bin" >/dev/null && return 0
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
		log "redis-server is missing: installing it with apt-get"
		# RUNLEVEL=1 keeps the package from starting its own service.
		export DEBIAN_FRONTEND=noninteractive RUNLEVEL=1
		if ! apt-get install -y -q redis-server >"$aptlog" 2>&1; then
			apt-get update -q >>"$aptlog" 2>&1 || true
			apt-get install -y -q redis-server >>"$aptlog" 2>&1 || true
		fi
	fi
	command -v "$bin" >/dev/null
}
