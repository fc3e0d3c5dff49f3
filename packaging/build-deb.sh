#!/usr/bin/env bash
# Builds the Debian package with cargo-deb (metadata in Cargo.toml,
# [package.metadata.deb]): target/debian/banter_VERSION-1_ARCH.deb.
# Extra arguments go to `cargo deb` (e.g. --no-build after a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo-deb >/dev/null; then
    echo "build-deb: installing cargo-deb (a few minutes, once)" >&2
    cargo install cargo-deb --locked
fi
# The packaged /etc/banter/config.toml is the documented default, config.toml,
# with the data in /var/lib/banter (the unit's StateDirectory).
mkdir -p target/packaging
sed 's|^data_dir = "data"$|data_dir = "/var/lib/banter"|' config.toml >target/packaging/config.toml
if ! grep -qx 'data_dir = "/var/lib/banter"' target/packaging/config.toml; then
    echo "build-deb: config.toml has no line 'data_dir = \"data\"' to point at /var/lib/banter" >&2
    exit 1
fi
cargo deb --locked --strip "$@"
