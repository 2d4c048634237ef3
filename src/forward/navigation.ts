import type { IncomingHttpHeaders } from 'node:http';

/** Sec-Fetch-Dest values of a page load in a window or frame (absent: older browsers send mode only). */
const PAGE_DESTINATIONS: ReadonlySet<string> = new Set(['document', 'iframe', 'frame', '']);

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value: unknown = headers[name];
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

/**
 * Whether the browser is loading a page (so a 302 — to the provider, or back to the same URL to
 * carry a renewed cookie — lands somewhere a user sees) rather than fetching a resource, where a
 * redirect would only break the caller.
 *
 * Only GET and HEAD: a 302 answer to a form POST would drop its body, and a login started from it
 * returns as a GET anyway; the caller answers those with a status instead.
 * Frames count (a frame shows a page); <embed>/<object> and every fetch/XHR mode do not.
 */
export function isTopLevelNavigation(method: string, headers: IncomingHttpHeaders): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  if (header(headers, 'x-requested-with')?.trim().toLowerCase() === 'xmlhttprequest') return false;
  const mode = header(headers, 'sec-fetch-mode');
  if (mode !== undefined) {
    if (mode.trim().toLowerCase() !== 'navigate') return false;
    return PAGE_DESTINATIONS.has((header(headers, 'sec-fetch-dest') ?? '').trim().toLowerCase());
  }
  // Browsers without Fetch Metadata: a page load asks for HTML; scripts and curl ask for */* or JSON.
  const accept = header(headers, 'accept')?.toLowerCase() ?? '';
  return accept.includes('text/html') || accept.includes('application/xhtml+xml');
}
