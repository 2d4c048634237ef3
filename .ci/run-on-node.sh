#!/usr/bin/env bash
# Runs the test suite again on another Node.js line, e.g. `bash .ci/run-on-node.sh 24` (more
# arguments go to vitest, e.g. a test file).
# These machines carry only Node 20; the npm registry's `node` package brings any release line
# (its install step fetches the matching node-linux-* package, from the same registry).
# Expects `npm test` to have run once (dependencies installed, dist/ built).
set -euo pipefail
line="${1:?usage: run-on-node.sh MAJOR}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cache="${OFA_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/oidc-forward-auth/node}/$line"
bin="$cache/node_modules/node/bin"
if [ ! -x "$bin/node" ] || [ "$("$bin/node" -p 'process.versions.node.split(".")[0]')" != "$line" ]; then
  echo "run-on-node: installing node@$line into $cache" >&2
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-save --no-audit --no-fund --no-package-lock "node@$line" >&2
fi
export PATH="$bin:$PATH"
echo "run-on-node: $(node --version)" >&2
# Same build output; vitest, its workers and every `node` a test starts now run on this line.
node node_modules/vitest/vitest.mjs run "${@:2}"
