#!/usr/bin/env bash
# The whole test suite: installs what the tests need, then unit and integration tests
# (real etcd, NATS, sshd, dnsmasq, iptables and network namespaces; the real kubectl
# against the fake API server). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
. scripts/env.sh
cargo nextest run --locked --no-fail-fast "$@"
