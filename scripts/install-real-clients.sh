#!/usr/bin/env bash
# Installs the real MCP client CLIs that test/clients-real.test.ts drives (issue 14), at the versions
# verified here, into .tools/ (not node_modules): their packages list platform packages for other
# OSes that the registry does not serve (qwen's clipboard, opencode's builds), which `npm install`
# skips but which make `npm ci` of a lock file that holds them refuse to run on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
npm install --prefix .tools --no-save --no-audit --no-fund --loglevel=error \
  @google/gemini-cli@0.61.0 @qwen-code/qwen-code@0.24.4 opencode-ai@1.18.33 @openai/codex@0.169.0 @github/copilot@1.0.102
echo "real client CLIs in $(pwd)/.tools/node_modules/.bin: $(ls .tools/node_modules/.bin | grep -xE 'gemini|qwen|opencode|codex|copilot' | tr '\n' ' ')"
