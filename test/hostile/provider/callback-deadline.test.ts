/**
 * A provider that takes the code and never answers: Traefik gives up on an auth request after 30 s
 * with a bare 500, so the callback must end first, with our own page and code (here with a short
 * deadline, and a per-request timeout long enough not to fire first).
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectRefused, login, startRig, type Rig } from './rig.js';

describe('a provider whose token endpoint never answers', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({
      middleware: { clientConfig: { timeoutSeconds: 60, maxRetries: 0 } },
      provider: { baseline: { tokenAnswer: 'stall' } },
      callbackDeadlineMs: 500,
    });
  });

  afterAll(async () => {
    // The provider first: closing it ends the stalled token request the service still waits on.
    await rig?.provider.stop();
    await rig?.service.stop();
  });

  it('ends the callback at the deadline with 504 OFA_PROVIDER_TIMEOUT, no session and nothing leaked', async () => {
    const { jar, callback } = await login(rig);
    await expectRefused(rig, callback, jar, { status: 504, code: 'OFA_PROVIDER_TIMEOUT' });
  });
});
