#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, test and demo oidc-forward-auth:
# the proxies and Redis the integration tests start on their own ports, Chromium for the
# browser tests, the npm dependencies, and the peers built from the Go module proxy (real Traefik
# v3 and v2.11, current Caddy, oauth2-proxy, Ory Hydra: deploy/peers/build.sh). Safe to run again:
# it only installs or builds what is missing. `--without-peers` leaves the Go builds out (the demo
# needs none of them).
set -euo pipefail

with_peers=1
for argument in "$@"; do
  case "$argument" in
    --without-peers) with_peers=0 ;;
    *) printf 'install-deps: unknown argument %s (known: --without-peers)\n' "$argument" >&2; exit 2 ;;
  esac
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

# Debian packages the tests and the demo use (strace and systemd: the systemd unit's checks;
# wrk: the benchmark; prometheus: its promtool checks and unit-tests the shipped alert rules;
# apache2 and libapache2-mod-auth-openidc: the benchmark's mod_auth_openidc peer).
packages=(nginx caddy redis-server redis-sentinel chromium wrk strace systemd prometheus apache2 libapache2-mod-auth-openidc)
# Services those packages may start system-wide; our tests start their own on free ports.
services=(nginx caddy redis-server redis-sentinel prometheus apache2)
# Filled by install_missing_packages: only services of packages this run installed are touched,
# so an nginx or Redis the machine already ran on purpose is left alone.
installed_now=()

log() { printf 'install-deps: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo --preserve-env=DEBIAN_FRONTEND "$@"
  else
    log "need root (or sudo) to run: $*"
    exit 1
  fi
}

is_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

install_missing_packages() {
  local missing=() pkg
  for pkg in "${packages[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages present: ${packages[*]}"
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "missing ${missing[*]} and no apt-get here: install them with your package manager"
    exit 1
  fi
  log "installing ${missing[*]}"

  # Keep maintainer scripts from starting nginx/redis on ports 80/6379 while we install,
  # unless the machine already has a policy (Docker images ship one that does the same).
  local policy=/usr/sbin/policy-rc.d placed_policy=0
  if ! as_root test -e "$policy"; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    placed_policy=1
    trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
  fi

  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"

  if [ "$placed_policy" -eq 1 ]; then
    as_root rm -f "$policy"
    trap - EXIT
  fi
  installed_now=("${missing[@]}")
}

installed_this_run() {
  local pkg
  for pkg in "${installed_now[@]}"; do [ "$pkg" = "$1" ] && return 0; done
  return 1
}

stop_system_services() {
  local svc
  [ "${#installed_now[@]}" -gt 0 ] || return 0
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    for svc in "${services[@]}"; do
      installed_this_run "$svc" || continue
      if systemctl list-unit-files "$svc.service" >/dev/null 2>&1 \
        && { systemctl is-enabled --quiet "$svc" 2>/dev/null || systemctl is-active --quiet "$svc" 2>/dev/null; }; then
        log "stopping and disabling system service $svc"
        as_root systemctl disable --now "$svc" >/dev/null 2>&1 || true
      fi
    done
    return
  fi
  # No systemd (containers): stop what an init script may have started, by its pid file.
  for svc in "${services[@]}"; do
    installed_this_run "$svc" || continue
    if [ -x "/etc/init.d/$svc" ] && as_root "/etc/init.d/$svc" status >/dev/null 2>&1; then
      log "stopping system service $svc"
      as_root "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1 && [ -x "/etc/init.d/$svc" ]; then
      as_root update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
}

# True when node_modules already holds exactly what package-lock.json pins, so `npm ci`
# (which deletes node_modules first) would change nothing.
node_modules_match_lock() {
  [ -f "$repo_root/node_modules/.package-lock.json" ] || return 1
  node --input-type=module -e '
    import { readFileSync } from "node:fs";
    const read = (p) => JSON.parse(readFileSync(p, "utf8"));
    const lock = read("package-lock.json").packages ?? {};
    const installed = read("node_modules/.package-lock.json").packages ?? {};
    const manifest = read("package.json");
    const root = lock[""] ?? {};
    for (const field of ["dependencies", "devDependencies"]) {
      if (JSON.stringify(root[field] ?? {}) !== JSON.stringify(manifest[field] ?? {})) process.exit(1);
    }
    for (const [path, entry] of Object.entries(lock)) {
      if (path === "" || !path.startsWith("node_modules/")) continue;
      const have = installed[path];
      if (have === undefined) { if (entry.optional) continue; process.exit(1); }
      if (have.version !== entry.version) process.exit(1);
    }
    for (const path of Object.keys(installed)) if (!(path in lock)) process.exit(1);
  ' 2>/dev/null
}

install_node_modules() {
  cd "$repo_root"
  if [ -f package-lock.json ]; then
    if node_modules_match_lock; then
      log "node_modules matches package-lock.json"
    else
      log "npm ci"
      npm ci --no-audit --no-fund
    fi
  else
    log "npm install (no package-lock.json)"
    npm install --no-audit --no-fund
  fi
}

install_missing_packages
stop_system_services
install_node_modules
if [ "$with_peers" -eq 1 ]; then
  bash "$repo_root/deploy/peers/build.sh"
fi
log "done"
