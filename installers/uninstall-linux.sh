#!/usr/bin/env bash
# Removes mcpshare for the current user on Linux: see "uninstall-linux.sh --help".
# Run with sh? Go on in bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=installers/lib.sh
. "$here/lib.sh"
if [ "$(uname -s)" = Darwin ]; then die "this is the Linux uninstaller: on macOS double-click uninstall-macos.command"; fi
mcpshare_uninstall linux "$0" "$@"
