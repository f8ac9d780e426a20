# Sourced by the scripts from the checkout's root: puts a rustup toolchain on PATH when
# there is one, and keeps Rust build outputs in a cache outside the checkout.
if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

# As the lab's Go binaries are cached by go.sum, Rust build outputs are cached by
# Cargo.lock and the compiler: a checkout without `target` (a fresh clone, CI) links it to
# /var/cache/kubedrill/cargo-target/<key>, so only kubedrill itself is compiled again
# (its sources are newer than the cache). A `target` directory already there is used as it
# is. Keys unused for 14 days are removed.
if [ ! -e target ] && [ -f Cargo.lock ] && command -v rustc >/dev/null 2>&1; then
    kubedrill_cache=/var/cache/kubedrill/cargo-target
    kubedrill_key=$( { cat Cargo.lock; rustc -V; } | sha256sum | cut -c1-16)
    if mkdir -p "$kubedrill_cache/$kubedrill_key" 2>/dev/null; then
        touch "$kubedrill_cache/$kubedrill_key"
        find "$kubedrill_cache" -mindepth 1 -maxdepth 1 -type d -mtime +14 \
            -exec rm -rf {} + 2>/dev/null || true
        ln -s "$kubedrill_cache/$kubedrill_key" target
    fi
    unset kubedrill_cache kubedrill_key
fi
