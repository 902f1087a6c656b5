#!/usr/bin/env bash
# Installs mcpshare for the current user on Linux (no root): see "install-linux.sh --help".
# Run with sh? Go on in bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=installers/lib.sh
. "$here/lib.sh"
if [ "$(uname -s)" = Darwin ]; then die "this is the Linux installer: on macOS double-click install-macos.command"; fi
mcpshare_install linux "$(cd "$here/.." && pwd)" "$0" "$@"
