/**
 * How much a session cookie costs on the hot path. Run: npx tsx test/bench/session-codec.bench.ts
 * Prints µs per operation for opening a cookie cold (decrypt + decode + guard) and for a cached
 * load, against an empty async call as the baseline, for each session codec version (1: always
 * deflated; 2: raw up to DEFLATE_ABOVE_BYTES of JSON), with the cookie sizes. Numbers only; no assertions.
 */
import { randomBytes } from 'node:crypto';
import { createCookieSessionStore } from '../../src/session/cookie-store.js';
import { createSealer } from '../../src/session/seal.js';
import { decodeSession, DEFLATE_ABOVE_BYTES, encodeSession, newSessionId, type Session, type SessionCodecVersion } from '../../src/session/session.js';

const secret = 'benchmark-secret-benchmark-secret-0001';
const now = 1_700_000_100;

function typicalSession(): Session {
  return {
    v: 1,
    id: newSessionId(),
    issuer: 'https://idp.example/realms/main',
    subject: '3f6c1e2a-8f5d-4c61-9a0b-1d2e3f4a5b6c',
    providerSid: '9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d',
    idClaims: {
      sub: '3f6c1e2a-8f5d-4c61-9a0b-1d2e3f4a5b6c',
      iss: 'https://idp.example/realms/main',
      sid: '9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d',
      exp: now + 300,
      email: 'alice@example.com',
      preferred_username: 'alice',
      groups: ['admins', 'developers', 'on-call'],
    },
    // Random bytes: real tokens are signatures and ids that deflate cannot shrink.
    idToken: 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.' + randomBytes(600).toString('base64url') + '.' + randomBytes(256).toString('base64url'),
    refreshToken: randomBytes(48).toString('base64url'),
    accessTokenExpiresAt: now + 300,
    createdAt: now,
    renewedAt: now,
    expiresAt: now + 86_400,
  };
}

async function measure(iterations: number, op: () => unknown): Promise<number> {
  for (let i = 0; i < Math.min(iterations, 2000); i++) await op();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await op();
  const micros = Number(process.hrtime.bigint() - start) / 1000 / iterations;
  return micros;
}

const sealer = createSealer([secret]);
const session = typicalSession();
const baseline = await measure(200_000, async () => undefined);
const rows: [string, number][] = [['empty async call (baseline)', baseline]];
const sizes: string[] = [];
let lastCookie = '';

for (const codecVersion of [1, 2] as const satisfies readonly SessionCodecVersion[]) {
  const cached = createCookieSessionStore({ sealer, purpose: 'session:bench', sessionLifetimeSeconds: 86_400, codecVersion });
  const uncached = createCookieSessionStore({ sealer, purpose: 'session:bench', sessionLifetimeSeconds: 86_400, cacheSize: 0, codecVersion });
  const cookie = await cached.create(session, now);
  await cached.load(cookie, now);
  lastCookie = cookie;
  const bytes = encodeSession(session, codecVersion);
  sizes.push(`codec ${codecVersion}: cookie value ${cookie.length} bytes, encoded ${bytes.length} bytes`);
  rows.push(
    [`v${codecVersion} encode`, await measure(20_000, () => encodeSession(session, codecVersion))],
    [`v${codecVersion} decode (+ guard)`, await measure(20_000, () => decodeSession(bytes))],
    [`v${codecVersion} seal (AES-256-GCM)`, await measure(20_000, () => sealer.seal(bytes, 'session:bench'))],
    [`v${codecVersion} store.load cold (open + decode)`, await measure(20_000, () => uncached.load(cookie, now))],
    [`v${codecVersion} store.load cached`, await measure(200_000, () => cached.load(cookie, now))],
    // Each request brings a new string, so the cache key is hashed afresh; the copy itself is in this figure.
    [`v${codecVersion} store.load cached, fresh string`, await measure(200_000, () => cached.load(Buffer.from(cookie).toString(), now))],
  );
}
rows.push(['  (the string copy of a v2 cookie alone)', await measure(200_000, () => Buffer.from(lastCookie).toString())]);

// Past the threshold version 2 deflates too: the same cost as version 1, by design.
const large: Session = { ...session, idClaims: { ...session.idClaims, groups: Array.from({ length: 60 }, (_, i) => `project-${i}-maintainers`) } };
for (const codecVersion of [1, 2] as const) {
  const uncached = createCookieSessionStore({ sealer, purpose: 'session:bench', sessionLifetimeSeconds: 86_400, cacheSize: 0, codecVersion });
  const cookie = await uncached.create(large, now);
  sizes.push(`codec ${codecVersion}, large session (JSON ${JSON.stringify(large).length} bytes): cookie value ${cookie.length} bytes`);
  rows.push([`v${codecVersion} large: store.load cold`, await measure(20_000, () => uncached.load(cookie, now))]);
}

console.log(`session JSON ${JSON.stringify(session).length} bytes (version 2 deflates above ${DEFLATE_ABOVE_BYTES})`);
for (const line of sizes) console.log(line);
for (const [name, micros] of rows) {
  console.log(`${name.padEnd(40)} ${micros.toFixed(2).padStart(8)} µs/op  ${(micros / baseline).toFixed(1).padStart(7)}× baseline`);
}
