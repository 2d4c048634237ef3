/** Our provider client for a middleware, discovered and ready, with its own logger; stop() closes it. */
import type { MiddlewareConfig } from '../../src/config/types.js';
import { createProviderClient, type ProviderClient } from '../../src/oidc/discovery.js';
import { createProviderFetch } from '../../src/oidc/http.js';
import { createTestLogger } from './log.js';

export async function readyProviderClient(middleware: MiddlewareConfig): Promise<{ providerClient: ProviderClient; stop: () => Promise<void> }> {
  const { log } = createTestLogger();
  const fetch = createProviderFetch(middleware.clientConfig, log);
  const providerClient = createProviderClient(middleware, { fetch, log });
  const stop = async (): Promise<void> => {
    providerClient.stop();
    await fetch.close();
  };
  try {
    await providerClient.ready();
  } catch (error) {
    await stop();
    throw error;
  }
  return { providerClient, stop };
}
