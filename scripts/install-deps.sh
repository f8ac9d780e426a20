#!/usr/bin/env bash
# Installs everything kubedrill, its local lab and its tests need on Debian 12 (as root):
# the lab's real components, the tools the tests drive, and a Rust toolchain if missing.
# (The Kubernetes lab's own binaries come from `bash scripts/build-lab-bins.sh`; it also
# needs haproxy, its API load balancer, and openssl, which makes its CA. Headless
# chromium renders the live view and the suite's index.html in the browser tests; dig
# (bind9-dnsutils) is what the kind scenarios run on a node to ask the cluster DNS.)
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (sudo)" >&2
    exit 2
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    ca-certificates curl build-essential pkg-config \
    iproute2 iptables procps psmisc util-linux coreutils \
    openssh-server openssh-client \
    etcd-server etcd-client \
    nats-server \
    dnsmasq-base bind9-dnsutils \
    haproxy openssl \
    chromium >/dev/null
echo "install-deps: Debian packages installed"

if ! command -v cargo >/dev/null 2>&1; then
    echo "install-deps: installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
    echo "install-deps: installing cargo-nextest from crates.io"
    cargo install cargo-nextest --locked
fi

# The real kubectl is the oracle the fake API server is checked against.
if ! command -v kubectl >/dev/null 2>&1; then
    version=v1.32.4
    if curl -fsSLo /usr/local/bin/kubectl "https://dl.k8s.io/release/${version}/bin/linux/amd64/kubectl"; then
        chmod +x /usr/local/bin/kubectl
    else
        apt-get install -y -qq kubernetes-client >/dev/null
    fi
fi
echo "install-deps: done ($(cargo --version), $(kubectl version --client 2>/dev/null | head -1))"
