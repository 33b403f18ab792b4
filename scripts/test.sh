#!/usr/bin/env bash
# The project's test command: checks formatting, vets, lints and runs every
# test against a local RabbitMQ broker and an embedded FerretDB.
#
# Usage: ./scripts/test.sh [go test flags...]
#   Extra arguments go to `go test ./...`, e.g. ./scripts/test.sh -race
#   or ./scripts/test.sh -run TestLogin -v
#
# Works on a fresh Debian bookworm machine with Go installed, as root (or
# with sudo): it installs and starts rabbitmq-server if needed.
# Environment:
#   SHOP_AMQP_URL   use this broker instead of a node of the run's own
#                   (nothing installed)
#   SHOP_MONGO_URI  use this MongoDB instead of the embedded FerretDB
#   CI              set in CI: tests fail rather than skip when
#                   infrastructure is missing
set -euo pipefail

cd "$(dirname "$0")/.."

# The limits below add up to 89 minutes, inside CI's 90 even if every step
# ran to its limit; a fresh machine takes about 25 to 30 (this one, with
# Docker's layer cache and the modules downloaded, 18).
#
# phase runs one step with a time limit, killing its whole process group
# when the limit passes, and says how long it took: a hung step fails the
# run with a message instead of stalling it.
phase() {
	local name="$1" limit="$2"
	shift 2
	local start=$SECONDS status=0
	echo "==> $name (limit ${limit})"
	timeout -k 30 "$limit" "$@" </dev/null || status=$?
	if ((status == 124 || status == 137)); then
		echo "test.sh: $name did not finish within $limit" >&2
	fi
	echo "==> $name: $((SECONDS - start))s, exit $status"
	return "$status"
}

# 1. Infrastructure: a RabbitMQ node of this run's own, with fresh data
#    (scripts/rabbitmq.sh), unless another broker is configured. It is
#    stopped when the run ends.
if [[ -z "${SHOP_AMQP_URL:-}" ]]; then
	export SHOP_RABBIT_DIR="${SHOP_RABBIT_DIR:-/tmp/shopbus-rabbitmq}"
	rabbitmq_sh="$PWD/scripts/rabbitmq.sh"
	# Stopping the node must neither fail the run nor hide its status.
	trap 'status=$?; "$rabbitmq_sh" stop || true; exit $status' EXIT
	phase rabbitmq 5m ./scripts/rabbitmq.sh start
	set -a
	# shellcheck source=/dev/null
	source "$SHOP_RABBIT_DIR/env"
	set +a
	echo "==> broker: $SHOP_AMQP_URL"
fi

# 2. Formatting: gofmt must have nothing to say.
echo "==> gofmt"
unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
	echo "these files need gofmt -w:" >&2
	echo "$unformatted" >&2
	exit 1
fi

# 3. Static checks.
phase "go vet" 6m go vet ./...
phase staticcheck 5m go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# 3b. Images: every image the end-to-end phase runs, built offline
#     (scripts/images.sh) before the tests, so that the tests that start a
#     RabbitMQ container of their own (shop/shoptest's AMQPURL) run here
#     instead of skipping; the end-to-end phase reuses them.
if [[ -z "${SHOP_SKIP_E2E:-}" ]]; then
	phase images 12m env SHOP_IMAGES_CLUSTER=1 ./scripts/images.sh
	export SHOP_E2E_SKIP_IMAGES=1
fi

# 4. Tests. -count=1: never trust cached results of tests that use a broker.
phase "go test" 17m go test ./... -count=1 -timeout 15m "$@"

# 5. The Kubernetes manifests (deploy/k8s, a module of its own so that
#    library users never download the Kubernetes libraries): built with
#    kustomize's library and decoded strictly; no cluster.
(
	cd deploy/k8s
	phase "k8s go vet" 4m go vet ./...
	phase "k8s staticcheck" 3m go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	phase "k8s manifests (deploy/k8s)" 3m go test ./... -count=1 -timeout 2m
)

# 5b. A program that embeds shopbus and tests it with the public kit
#     (examples/testing, a module of its own that requires shopbus with a
#     replace to this checkout): its cart on the in-process bus, and on
#     RabbitMQ (SHOP_AMQP_URL, or a container of shopbus/rabbitmq:local).
(
	cd examples/testing
	phase "examples/testing go vet" 2m go vet ./...
	phase "examples/testing (the test kit from outside)" 3m go test ./... -count=1 -timeout 2m
)

# 6. End to end: the standard topology in containers (deploy/e2e, a module
# of its own so that library users never download the Docker dependencies).
# It runs the images built in 3b and needs the Docker engine; set
# SHOP_SKIP_E2E=1 to leave both out of a quick local run.
if [[ -z "${SHOP_SKIP_E2E:-}" ]]; then
	# A real browser drives the storefront's pages: Debian's chromium.
	if ! command -v chromium >/dev/null; then
		phase "install chromium" 6m bash -c 'export DEBIAN_FRONTEND=noninteractive
			apt-get -o DPkg::Lock::Timeout=300 -q update &&
			apt-get -o DPkg::Lock::Timeout=300 -q install -y chromium >/dev/null'
	fi
	cd deploy/e2e
	phase "e2e go vet" 4m go vet ./...
	phase "e2e staticcheck" 3m go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	phase "end-to-end (deploy/e2e)" 15m go test ./... -count=1 -timeout 14m -v -run .
fi
echo "==> all passed in ${SECONDS}s"
