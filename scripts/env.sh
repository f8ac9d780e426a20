# Sourced by the scripts: puts a rustup toolchain on PATH when there is one.
if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
