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

# Rust: these machines and CI have it (Rust 1.95); Debian 12's rustc (1.63) is too old for
# the crates, so a machine without Rust gets rustup, the one download outside the package
# registries, and only then.
if ! command -v cargo >/dev/null 2>&1; then
    echo "install-deps: no cargo: installing Rust with rustup (needs https://sh.rustup.rs)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
    echo "install-deps: installing cargo-nextest from crates.io"
    cargo install cargo-nextest --locked
fi

# A kubectl on PATH for the test that checks the lab's kubeconfig with "the preinstalled
# kubectl" (the lab itself uses the one scripts/build-lab-bins.sh builds from Go modules):
# Debian's package; dl.k8s.io only if apt has none.
if ! command -v kubectl >/dev/null 2>&1; then
    if ! apt-get install -y -qq kubernetes-client >/dev/null; then
        version=v1.32.4
        curl -fsSLo /usr/local/bin/kubectl "https://dl.k8s.io/release/${version}/bin/linux/amd64/kubectl"
        chmod +x /usr/local/bin/kubectl
    fi
fi
echo "install-deps: done ($(cargo --version), $(kubectl version --client 2>/dev/null | head -1))"
