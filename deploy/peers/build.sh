#!/usr/bin/env bash
# Builds the test bed's peers (real Traefik v3 and v2.11, current Caddy v2, oauth2-proxy, Ory Hydra)
# from the Go module proxy, each at the version its go.mod beside this script pins, into a cache
# folder outside the checkout. A peer already built at its pinned version is not built again.
#
#   OFA_PEERS_DIR   where the binaries go (default: ${XDG_CACHE_HOME:-$HOME/.cache}/oidc-forward-auth/peers)
#   OFA_PEERS       which peers to build (default: all), e.g. "traefik-v3 hydra"
#
# The tests look for `<peer>-<version>` in that folder (test/support/peers.ts); a binary already on
# the machine can stand in through OFA_<PEER>_BIN (OFA_TRAEFIK_V3_BIN, OFA_HYDRA_BIN, ...).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
peers_dir="${OFA_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/oidc-forward-auth/peers}"
log() { printf 'peers: %s\n' "$*" >&2; }

# peer | module whose version names the binary | package to build | build tags | cgo
catalogue=(
  "traefik-v3|github.com/traefik/traefik/v3|github.com/traefik/traefik/v3/cmd/traefik||0"
  "traefik-v2|github.com/traefik/traefik/v2|github.com/traefik/traefik/v2/cmd/traefik||0"
  "caddy|github.com/caddyserver/caddy/v2|github.com/caddyserver/caddy/v2/cmd/caddy||0"
  "oauth2-proxy|github.com/oauth2-proxy/oauth2-proxy/v7|github.com/oauth2-proxy/oauth2-proxy/v7||0"
  # Hydra's in-memory store (DSN memory) is SQLite, which needs cgo and the sqlite tag.
  "hydra|github.com/ory/hydra/v2|github.com/ory/hydra/v2|sqlite,sqlite_omit_load_extension|1"
)

if ! command -v go >/dev/null 2>&1; then
  log "no Go toolchain on PATH: install Go (1.26 or later) to build the test bed's peers"
  exit 1
fi

wanted="${OFA_PEERS:-}"
mkdir -p "$peers_dir"
for entry in "${catalogue[@]}"; do
  IFS='|' read -r peer module package tags cgo <<<"$entry"
  if [ -n "$wanted" ] && [[ " $wanted " != *" $peer "* ]]; then continue; fi
  version="$(sed -n "s|^[[:space:]]*${module//./\\.} \(v[^ ]*\).*|\1|p" "$here/$peer/go.mod" | head -n 1)"
  if [ -z "$version" ]; then
    log "$peer: no version of $module in $here/$peer/go.mod"
    exit 1
  fi
  out="$peers_dir/$peer-$version"
  if [ -x "$out" ]; then
    log "$peer $version present ($out)"
    continue
  fi
  log "$peer $version: building (this takes minutes the first time)"
  started=$SECONDS
  (
    cd "$here/$peer"
    CGO_ENABLED="$cgo" go build -trimpath ${tags:+-tags "$tags"} -o "$out.partial" "$package"
  )
  mv "$out.partial" "$out"
  log "$peer $version: built in $((SECONDS - started)) s ($out)"
done
