#!/usr/bin/env bash
# Installs mcpshare for the current user on macOS (no root). Double-click it in Finder, or run it in
# a terminal with --help for the options.
# Run with sh? Go on in bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
# shellcheck source=installers/lib.sh
. "$here/lib.sh"
trap pause_if_interactive EXIT
if [ "$(uname -s)" != Darwin ]; then die "this is the macOS installer: on Linux run install-linux.sh"; fi
mcpshare_install darwin "$(cd "$here/.." && pwd)" "$0" "$@"
