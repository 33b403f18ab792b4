#!/usr/bin/env bash
# Start a RabbitMQ node of the test run's own: installed from Debian's
# rabbitmq-server if missing, with a fresh, empty data directory every time,
# on 127.0.0.1, and wait until it serves. It never touches the machine's own
# broker (rabbit@host) or its data: whatever that one holds (thousands of
# queues left by other runs make it boot for minutes), this node boots in
# seconds.
#
# Usage: ./scripts/rabbitmq.sh start   start the node; write its env file
#        ./scripts/rabbitmq.sh stop    stop the node
#
# After start, "$SHOP_RABBIT_DIR/env" holds the lines to source:
#   SHOP_AMQP_URL=amqp://guest:guest@127.0.0.1:<port>/
#   SHOP_RABBIT_NODE=shopbus@localhost   (for rabbitmqctl -n)
#
# Needs root (or password-less sudo) to install and start the broker.
# Tested on Debian bookworm. Every step is bounded in time: the script
# never waits on a prompt or a hung command. Environment:
#   SHOP_RABBIT_DIR        the node's directory (default /tmp/shopbus-rabbitmq)
#   SHOP_RABBIT_NODENAME   the node's name (default shopbus@localhost); a test
#                          that stops and starts its broker runs a node of its
#                          own under another name
#   SHOP_RABBIT_CONF       a rabbitmq.conf for the node (default none: the
#                          broker's defaults), e.g. deploy/rabbitmq/limits.conf
#                          to run with the limits deploy/ ships
#   RABBITMQ_WAIT_SECONDS  how long to wait for the node to boot (default 120)
set -euo pipefail

action="${1:-start}"
# /tmp, not $TMPDIR (which may be private): the node runs as the rabbitmq
# user, which must reach the directory.
dir="${SHOP_RABBIT_DIR:-/tmp/shopbus-rabbitmq}"
node="${SHOP_RABBIT_NODENAME:-shopbus@localhost}"
wait_seconds="${RABBITMQ_WAIT_SECONDS:-120}"
conf="${SHOP_RABBIT_CONF:-}"

# Debian installs the broker's commands in /usr/sbin, which is often not in
# a non-root user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"

# as_root runs a command as root, through sudo when we are not root. sudo
# -n fails instead of asking for a password nobody would type.
as_root() {
	if [[ "$(id -u)" == 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo -n --preserve-env=DEBIAN_FRONTEND,RABBITMQ_NODENAME,RABBITMQ_NODE_PORT,RABBITMQ_DIST_PORT,RABBITMQ_MNESIA_BASE,RABBITMQ_LOG_BASE,RABBITMQ_ENABLED_PLUGINS_FILE,RABBITMQ_PID_FILE,RABBITMQ_CONFIG_FILE "$@"
	else
		echo "rabbitmq.sh: need root or sudo to run: $*" >&2
		exit 1
	fi
}

# ctl runs rabbitmqctl against our node, bounded in time.
ctl() {
	as_root timeout -k 5 30 rabbitmqctl -q -n "$node" "$@" </dev/null
}

# port_answers succeeds if something accepts connections on 127.0.0.1:$1.
port_answers() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# free_port prints the first port from $1 on that nothing listens on.
free_port() {
	local port="$1"
	while port_answers "$port"; do
		port=$((port + 1))
	done
	echo "$port"
}

# stop_node stops a node left by an earlier run, if one runs.
stop_node() {
	ctl stop >/dev/null 2>&1 || true
}

if [[ "$action" == stop ]]; then
	stop_node
	exit 0
fi
if [[ "$action" != start ]]; then
	echo "usage: $0 start|stop" >&2
	exit 2
fi

# 1. Install. Another apt-get may be running (e.g. unattended upgrades):
#    wait for the dpkg lock (bounded) instead of failing.
if ! command -v rabbitmq-server >/dev/null; then
	echo "==> installing rabbitmq-server"
	export DEBIAN_FRONTEND=noninteractive
	apt_opts=(-o DPkg::Lock::Timeout=300 -q)
	as_root timeout 600 apt-get "${apt_opts[@]}" update </dev/null
	as_root timeout 900 apt-get "${apt_opts[@]}" install -y --no-install-recommends rabbitmq-server </dev/null
fi

# 2. A fresh directory: a node left by an earlier run is stopped first.
stop_node
as_root rm -rf "$dir"
mkdir -p "$dir/mnesia" "$dir/log"
echo '[].' >"$dir/plugins" # no plugins: the fastest boot
if [[ -n "$conf" ]]; then
	cp "$conf" "$dir/rabbitmq.conf"
	export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
fi
# Port 5682 when free, otherwise the next free one: not 5672, which the
# machine's own broker may take any moment (e.g. while it boots).
port="$(free_port 5682)"
dist_port="$(free_port $((port + 20000)))"
cat >"$dir/env" <<EOF
SHOP_AMQP_URL=amqp://guest:guest@127.0.0.1:$port/
SHOP_RABBIT_NODE=$node
EOF
# Debian's scripts run the node as the rabbitmq user: it must own the files.
if id rabbitmq >/dev/null 2>&1; then
	as_root chown -R rabbitmq: "$dir"
fi

# 3. Start. The node is a daemon: it must not inherit our output, or
#    whoever reads it (CI) would wait for the daemon to end.
echo "==> starting RabbitMQ node $node on port $port (data in $dir)"
export RABBITMQ_NODENAME="$node" \
	RABBITMQ_NODE_PORT="$port" \
	RABBITMQ_DIST_PORT="$dist_port" \
	RABBITMQ_MNESIA_BASE="$dir/mnesia" \
	RABBITMQ_LOG_BASE="$dir/log" \
	RABBITMQ_ENABLED_PLUGINS_FILE="$dir/plugins" \
	RABBITMQ_PID_FILE="$dir/pid"
# Many queues need many file handles: raise the limit the node inherits.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
as_root timeout -k 5 60 rabbitmq-server -detached </dev/null >/dev/null 2>&1 || true

# 4. Wait. await_startup fails at once while the node is not up yet, so retry.
deadline=$((SECONDS + wait_seconds))
until ctl await_startup --timeout 20 >/dev/null 2>&1 && port_answers "$port"; do
	if ((SECONDS >= deadline)); then
		echo "rabbitmq.sh: node $node not ready after ${wait_seconds}s; its logs:" >&2
		as_root sh -c "tail -n 40 '$dir'/log/*.log" >&2 || true
		exit 1
	fi
	sleep 1
done
echo "==> rabbitmq: ready (${SECONDS}s)"
