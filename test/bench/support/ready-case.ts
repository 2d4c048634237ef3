/**
 * A case made ready for wrk: which script with which headers (and cookies), the status every
 * answer must have, and a preflight that checks one answer in full before anything is measured.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { STATIC_PAGE, type BenchNginx } from './bench-nginx.js';
import type { BenchService } from './bench-service.js';
import { PAGE_LOAD_HEADERS } from './browser-login.js';
import type { CaseDefinition } from './suites.js';

export interface ReadyCase {
  readonly definition: CaseDefinition;
  readonly url: string;
  readonly script: 'fixed-request.lua' | 'rotating-cookies.lua';
  readonly scriptArgs: readonly string[];
  readonly expectedStatus: number;
  readonly nginx: BenchNginx;
  /** Statuses are counted from nginx's access log; the static server logs nothing, wrk counts. */
  readonly statusesFromAccessLog: boolean;
  /** The process tree behind auth_request, for RSS and CPU; `service` unless it is the floor. */
  readonly backend: { readonly label: string; readonly pid: number; readonly service: BenchService | undefined } | undefined;
  /** One request (or a few) checked in full: the setup is what we think it is. */
  preflight(): Promise<void>;
}

/** What a case needs besides its definition, from the started suite. */
export interface CaseInputs {
  readonly definition: CaseDefinition;
  readonly dir: string;
  readonly nginx: BenchNginx;
  readonly backend: ReadyCase['backend'];
  readonly issuer: string;
  /** Cookie header(s) of a real sign-in: one for signed-in, many for many-sessions. */
  readonly cookies: readonly string[];
}

const APP_PATH = '/app/dashboard?tab=1';
const USER_AGENT = 'Mozilla/5.0 (oidc-forward-auth benchmark)';
const API_HEADERS: Readonly<Record<string, string>> = { Accept: 'application/json', 'User-Agent': USER_AGENT };

function writeHeaders(dir: string, name: string, headers: Readonly<Record<string, string>>): string {
  const path = join(dir, `headers-${name}.txt`);
  writeFileSync(path, Object.entries(headers).map(([key, value]) => `${key}: ${value}\n`).join(''), { mode: 0o600 });
  return path;
}

/** Long enough for the service's buffered log to flush the lines of the preflight's requests. */
const LOG_FLUSH_MS = 1000;

export function readyCase(inputs: CaseInputs): ReadyCase {
  const { definition, dir, nginx, issuer, cookies } = inputs;
  // Behind a cache, most decisions are nginx's: the service's log lines are not checked against
  // them (its lines during this case are counted with the next case of the same service).
  const backend = definition.proxyCache === true && inputs.backend !== undefined ? { ...inputs.backend, service: undefined } : inputs.backend;
  const common = { definition, nginx, backend, statusesFromAccessLog: definition.request !== 'static' };
  const recipeUrl = `${nginx.url}${APP_PATH}`;
  const isApplication = (body: string): boolean => body === STATIC_PAGE;
  switch (definition.request) {
    case 'static': {
      const headers = { Accept: 'text/html', 'User-Agent': USER_AGENT };
      const url = `${nginx.staticUrl}/`;
      return {
        ...common,
        url,
        script: 'fixed-request.lua',
        scriptArgs: [writeHeaders(dir, definition.id, headers)],
        expectedStatus: 200,
        preflight: () => expectAnswer(url, headers, 200, isApplication),
      };
    }
    case 'signed-in': {
      const headers = { ...API_HEADERS, Cookie: cookieAt(cookies, 0) };
      const service = inputs.backend?.service;
      return {
        ...common,
        url: recipeUrl,
        script: 'fixed-request.lua',
        scriptArgs: [writeHeaders(dir, definition.id, headers)],
        expectedStatus: 200,
        preflight: async () => {
          if (definition.proxyCache !== true || service === undefined) return expectAnswer(recipeUrl, headers, 200, isApplication);
          await expectAnsweredFromCache(service, () => expectAnswer(recipeUrl, headers, 200, isApplication));
        },
      };
    }
    case 'many-sessions': {
      const cookiesPath = join(dir, `cookies-${definition.id}.txt`);
      writeFileSync(cookiesPath, `${cookies.join('\n')}\n`, { mode: 0o600 });
      return {
        ...common,
        url: recipeUrl,
        script: 'rotating-cookies.lua',
        scriptArgs: [writeHeaders(dir, definition.id, API_HEADERS), cookiesPath],
        expectedStatus: 200,
        preflight: async () => {
          for (const index of [0, cookies.length - 1]) {
            await expectAnswer(recipeUrl, { ...API_HEADERS, Cookie: cookieAt(cookies, index) }, 200, isApplication);
          }
        },
      };
    }
    case 'anonymous-api':
      return {
        ...common,
        url: recipeUrl,
        script: 'fixed-request.lua',
        scriptArgs: [writeHeaders(dir, definition.id, API_HEADERS)],
        expectedStatus: 401,
        preflight: () => expectAnswer(recipeUrl, API_HEADERS, 401),
      };
    case 'page-load':
      return {
        ...common,
        url: recipeUrl,
        script: 'fixed-request.lua',
        scriptArgs: [writeHeaders(dir, definition.id, PAGE_LOAD_HEADERS)],
        expectedStatus: 302,
        preflight: () => expectAnswer(recipeUrl, PAGE_LOAD_HEADERS, 302, undefined, (location) => location.startsWith(`${issuer}/auth?`)),
      };
  }
}

/**
 * The same request three times: the service answers the first (its own or an earlier one's
 * cached 200 may also answer it), nginx's cache the others. The service's access lines say so.
 */
async function expectAnsweredFromCache(service: BenchService, send: () => Promise<void>): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, LOG_FLUSH_MS));
  service.takeLogCounts();
  for (let i = 0; i < 3; i += 1) await send();
  await new Promise((resolve) => setTimeout(resolve, LOG_FLUSH_MS));
  const { lines } = service.takeLogCounts();
  if (lines > 1) throw new Error(`preflight: the service answered ${lines} of 3 identical requests through the micro-cache; expected at most 1`);
}

function cookieAt(cookies: readonly string[], index: number): string {
  const cookie = cookies[index];
  if (cookie === undefined) throw new Error('this case needs the cookies of a sign-in');
  return cookie;
}

async function expectAnswer(
  url: string,
  headers: Readonly<Record<string, string>>,
  status: number,
  bodyIsRight?: (body: string) => boolean,
  locationIsRight?: (location: string) => boolean,
): Promise<void> {
  const answer = await request(url, { headers: { ...headers } });
  const body = await answer.body.text();
  const location = answer.headers.location;
  const where = new URL(url).pathname;
  if (answer.statusCode !== status) throw new Error(`preflight: ${where} answered ${answer.statusCode}, expected ${status}`);
  if (bodyIsRight !== undefined && !bodyIsRight(body)) throw new Error(`preflight: ${where} answered ${status} with another body than the application's`);
  if (locationIsRight !== undefined && (typeof location !== 'string' || !locationIsRight(location))) {
    throw new Error(`preflight: ${where} answered ${status} with an unexpected Location`);
  }
}
