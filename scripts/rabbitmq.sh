#!/usr/bin/env bash
# Make sure a local RabbitMQ broker is running and ready on 127.0.0.1:5672:
# install Debian's rabbitmq-server if it is missing, start it unless it
# already answers, and wait until it has booted.
#
# Usage: ./scripts/rabbitmq.sh
# Needs root (or password-less sudo) to install and start the broker.
# Tested on Debian bookworm. Every step is bounded in time: the script
# never waits on a prompt or a hung command. Environment:
#   RABBITMQ_WAIT_SECONDS  how long to wait for the broker to boot (default 120)
set -euo pipefail

wait_seconds="${RABBITMQ_WAIT_SECONDS:-120}"

# Debian installs the broker's commands in /usr/sbin, which is often not in
# a non-root user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"

# as_root runs a command as root, through sudo when we are not root. sudo
# -n fails instead of asking for a password nobody would type.
as_root() {
	if [[ "$(id -u)" == 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo -n --preserve-env=DEBIAN_FRONTEND "$@"
	else
		echo "rabbitmq.sh: need root or sudo to run: $*" >&2
		exit 1
	fi
}

# amqp_answers succeeds if something accepts connections on the AMQP port.
amqp_answers() {
	timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672' 2>/dev/null
}

# await_startup waits while the node boots; it fails at once if no node
# runs. Bounded, in case name resolution or the node hangs.
await_startup() {
	as_root timeout -k 5 30 rabbitmqctl -q await_startup --timeout 20 </dev/null >/dev/null 2>&1
}

# 1. Install. Another apt-get may be running (e.g. unattended upgrades):
#    wait for the dpkg lock (bounded) instead of failing.
if ! command -v rabbitmq-server >/dev/null; then
	echo "==> installing rabbitmq-server"
	export DEBIAN_FRONTEND=noninteractive
	apt_opts=(-o DPkg::Lock::Timeout=300 -q)
	as_root timeout 600 apt-get "${apt_opts[@]}" update </dev/null
	as_root timeout 900 apt-get "${apt_opts[@]}" install -y --no-install-recommends rabbitmq-server </dev/null
fi

# The node is named rabbit@<short host name>; where that name does not
# resolve, Erlang cannot start the node: name it rabbit@localhost instead
# (rabbitmqctl reads the same file, so it finds the node).
short_host="$(hostname -s 2>/dev/null || hostname)"
if ! getent hosts "$short_host" >/dev/null 2>&1; then
	echo "==> rabbitmq: host name $short_host does not resolve; naming the node rabbit@localhost"
	as_root sh -c 'mkdir -p /etc/rabbitmq && { grep -qs "^NODENAME=" /etc/rabbitmq/rabbitmq-env.conf || echo "NODENAME=rabbit@localhost" >>/etc/rabbitmq/rabbitmq-env.conf; }'
fi

# 2. Start, unless it already runs (or is booting). The node is a daemon:
#    it must not inherit our output, or whoever reads it (CI) would wait
#    for the daemon to end.
if amqp_answers; then
	echo "==> rabbitmq: already running"
	exit 0
fi
if ! await_startup; then
	echo "==> starting rabbitmq-server"
	as_root timeout -k 5 60 rabbitmq-server -detached </dev/null >/dev/null 2>&1 || true
fi

# 3. Wait. await_startup fails at once while the node is not up yet, so retry.
deadline=$((SECONDS + wait_seconds))
until await_startup && amqp_answers; do
	if ((SECONDS >= deadline)); then
		echo "rabbitmq.sh: broker not ready after ${wait_seconds}s; hostname $(hostname); its logs:" >&2
		as_root sh -c 'tail -n 30 /var/log/rabbitmq/*.log' >&2 || true
		exit 1
	fi
	sleep 1
done
echo "==> rabbitmq: ready (${SECONDS}s)"
