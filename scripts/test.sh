#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds the Kubernetes lab binaries
# (cached), then unit and integration tests (real etcd, NATS, sshd, dnsmasq, iptables and
# network namespaces; a real HA Kubernetes control plane in the lab). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
. scripts/env.sh
bash scripts/build-lab-bins.sh >/dev/null
cargo nextest run --locked --no-fail-fast "$@"
