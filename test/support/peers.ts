/**
 * The test bed's peers that deploy/peers/build.sh builds from the Go module proxy: real Traefik v3
 * and v2.11, the current Caddy v2, oauth2-proxy and Ory Hydra. A missing binary fails the test
 * (never a skip): run `bash deploy/install-deps.sh`.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type PeerName = 'traefik-v3' | 'traefik-v2' | 'caddy' | 'oauth2-proxy' | 'hydra';

const PEER_MODULES: Readonly<Record<PeerName, string>> = {
  'traefik-v3': 'github.com/traefik/traefik/v3',
  'traefik-v2': 'github.com/traefik/traefik/v2',
  caddy: 'github.com/caddyserver/caddy/v2',
  'oauth2-proxy': 'github.com/oauth2-proxy/oauth2-proxy/v7',
  hydra: 'github.com/ory/hydra/v2',
};

const peersModuleRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'peers');

/** The folder build.sh writes to (OFA_PEERS_DIR, else the user's cache folder). */
export function peersDirectory(): string {
  const cacheHome = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return process.env.OFA_PEERS_DIR ?? join(cacheHome, 'oidc-forward-auth', 'peers');
}

/** The version deploy/peers/<peer>/go.mod pins, e.g. "v3.6.25". */
export function peerVersion(peer: PeerName): string {
  const goMod = readFileSync(join(peersModuleRoot, peer, 'go.mod'), 'utf8');
  const module = PEER_MODULES[peer].replaceAll('.', '\\.');
  const match = new RegExp(`^\\s*${module} (v\\S+)`, 'm').exec(goMod);
  if (match === null) throw new Error(`deploy/peers/${peer}/go.mod pins no version of ${PEER_MODULES[peer]}`);
  return match[1]!;
}

/** OFA_TRAEFIK_V3_BIN, OFA_OAUTH2_PROXY_BIN, ...: a binary already on the machine. */
export function peerOverrideVariable(peer: PeerName): string {
  return `OFA_${peer.toUpperCase().replaceAll('-', '_')}_BIN`;
}

/** The peer's binary: the override variable's path, else `<peersDirectory>/<peer>-<version>`. */
export function peerBinary(peer: PeerName): string {
  const override = process.env[peerOverrideVariable(peer)];
  const candidate = override !== undefined && override !== '' ? override : join(peersDirectory(), `${peer}-${peerVersion(peer)}`);
  try {
    accessSync(candidate, constants.X_OK);
  } catch {
    throw new Error(
      `${peer} binary not found at ${candidate}: run \`bash deploy/install-deps.sh\` (it builds the pinned peers), ` +
        `or point ${peerOverrideVariable(peer)} at one`,
    );
  }
  return candidate;
}
