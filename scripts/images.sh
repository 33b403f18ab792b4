#!/usr/bin/env bash
# Builds every image the end-to-end test needs, with no image registry:
#
#   shopbus/<name>:local     each deploy/<name> main as a static binary FROM scratch
#   shopbus/rabbitmq:local   RabbitMQ 3.10 from a Debian bookworm root filesystem (debootstrap), docker import
#   shopbus/rabbitmq4:local  RabbitMQ 4.0.5 from Debian trixie, for the cluster (with SHOP_IMAGES_CLUSTER=1)
#   shopbus/ferretdb:local   a MongoDB-compatible server: deploy/ferretdb (FerretDB v1, SQLite) FROM scratch
#
# For air-gapped users: it needs only Go with a module proxy (or a filled
# module cache), Debian's package mirror (or a local mirror; set
# SHOP_DEBIAN_MIRROR) and a Docker engine. An existing rabbitmq image is
# reused; pass --rebuild to build it again. Go images are always rebuilt.
#
# Usage: ./scripts/images.sh [--rebuild]
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${SHOP_IMAGE_TAG:-local}"
rebuild=false
[[ "${1:-}" == "--rebuild" ]] && rebuild=true
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

have_image() { ! $rebuild && docker image inspect "$1" >/dev/null 2>&1; }

# The Debian mirror apt already uses, so that no host is written down here.
debian_mirror() {
	if [[ -n "${SHOP_DEBIAN_MIRROR:-}" ]]; then
		echo "$SHOP_DEBIAN_MIRROR"
		return
	fi
	local uri
	uri="$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)"
	if [[ -z "$uri" ]]; then
		uri="$(grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1 || true)"
	fi
	[[ -n "$uri" ]] || { echo "no Debian mirror found in apt's sources; set SHOP_DEBIAN_MIRROR" >&2; exit 1; }
	echo "$uri"
}

# 1. Go binaries, static, one image each.
echo "==> Go images (shopbus/*:$tag)"
mkdir -p "$work/bin"
mains=$(go list -f '{{if eq .Name "main"}}{{.Dir}}{{end}}' ./deploy/... | sed "s|^$PWD/||")
for dir in $mains; do
	name="$(basename "$dir")"
	CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$work/bin/$name" "./$dir"
done
for dir in $mains; do
	name="$(basename "$dir")"
	[[ "$name" == ferretdb ]] && continue
	docker build -q -f deploy/images/prebuilt.Dockerfile --build-arg "BINARY=$name" -t "shopbus/$name:$tag" "$work/bin" >/dev/null
	echo "    shopbus/$name:$tag"
done

# 2. FerretDB (deploy/ferretdb): its image needs a writable data directory.
echo "==> shopbus/ferretdb:$tag"
mkdir -p "$work/ferretdb/data"
mv "$work/bin/ferretdb" "$work/ferretdb/ferretdb"
docker build -q -f deploy/images/ferretdb.Dockerfile -t "shopbus/ferretdb:$tag" "$work/ferretdb" >/dev/null

# 3. RabbitMQ from a minimal Debian root filesystem: bookworm's 3.10 for one
#    node, trixie's 4.0.5 for the cluster (quorum queues, classic_config peer
#    discovery). The 4.x image takes the Erlang cookie the nodes of a cluster
#    share from RABBITMQ_ERLANG_COOKIE (see deploy/compose.cluster.yaml).
rabbitmq_image() {
	local suite="$1" image="$2"
	if have_image "$image"; then
		echo "==> $image exists"
		return
	fi
	echo "==> $image (debootstrap $suite, about a minute)"
	if ! command -v debootstrap >/dev/null; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
	fi
	local root="$work/rootfs-$suite"
	debootstrap --variant=minbase --include=rabbitmq-server "$suite" "$root" "$(debian_mirror)" >"$work/debootstrap-$suite.log" 2>&1 ||
		{ tail -n 30 "$work/debootstrap-$suite.log" >&2; exit 1; }
	# Let guest connect from other containers, and serve the management UI.
	cat >"$root/etc/rabbitmq/rabbitmq.conf" <<-CONF
		loopback_users = none
		listeners.tcp.default = 5672
	CONF
	echo '[rabbitmq_management].' >"$root/etc/rabbitmq/enabled_plugins"
	chroot "$root" chown rabbitmq:rabbitmq /etc/rabbitmq/enabled_plugins
	cat >"$root/usr/local/bin/shop-rabbitmq" <<-'SH'
		#!/bin/sh
		# Starts the node; a cluster's shared Erlang cookie may come from
		# RABBITMQ_ERLANG_COOKIE.
		set -e
		if [ -n "$RABBITMQ_ERLANG_COOKIE" ]; then
			printf '%s' "$RABBITMQ_ERLANG_COOKIE" >/var/lib/rabbitmq/.erlang.cookie
			chown rabbitmq:rabbitmq /var/lib/rabbitmq/.erlang.cookie
			chmod 400 /var/lib/rabbitmq/.erlang.cookie
			unset RABBITMQ_ERLANG_COOKIE
		fi
		exec /usr/sbin/rabbitmq-server "$@"
	SH
	chmod 755 "$root/usr/local/bin/shop-rabbitmq"
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* "$root"/usr/share/man/*
	tar -C "$root" -c . | docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'EXPOSE 5672 15672' \
		--change 'CMD ["/usr/local/bin/shop-rabbitmq"]' \
		- "$image" >/dev/null
	rm -rf "$root"
}
rabbitmq_image bookworm "shopbus/rabbitmq:$tag"
if [[ -n "${SHOP_IMAGES_CLUSTER:-}" ]]; then
	rabbitmq_image trixie "shopbus/rabbitmq4:$tag"
fi
echo "==> images ready"
