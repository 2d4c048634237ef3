import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { isTopLevelNavigation } from '../../src/forward/navigation.js';

const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('isTopLevelNavigation', () => {
  it.each<[string, string, IncomingHttpHeaders, boolean]>([
    ['a page load (Fetch Metadata)', 'GET', { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', accept: HTML }, true],
    ['a page load without Sec-Fetch-Dest', 'GET', { 'sec-fetch-mode': 'navigate' }, true],
    ['a page load in an iframe', 'GET', { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'iframe' }, true],
    ['a HEAD navigation', 'HEAD', { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }, true],
    ['an <embed> load', 'GET', { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'embed' }, false],
    ['a fetch() asking for HTML', 'GET', { 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty', accept: HTML }, false],
    ['a same-origin fetch', 'GET', { 'sec-fetch-mode': 'same-origin', accept: '*/*' }, false],
    ['an image', 'GET', { 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' }, false],
    ['a WebSocket', 'GET', { 'sec-fetch-mode': 'websocket' }, false],
    ['a form POST navigation', 'POST', { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }, false],
    ['an old browser loading a page', 'GET', { accept: HTML }, true],
    ['an old browser loading XHTML', 'GET', { accept: 'application/xhtml+xml' }, true],
    ['curl', 'GET', { accept: '*/*' }, false],
    ['a client sending no Accept', 'GET', {}, false],
    ['a JSON API call', 'GET', { accept: 'application/json' }, false],
    ['a jQuery XHR asking for HTML', 'GET', { 'x-requested-with': 'XMLHttpRequest', accept: HTML }, false],
    ['an XHR that claims to navigate', 'GET', { 'x-requested-with': 'XMLHttpRequest', 'sec-fetch-mode': 'navigate' }, false],
    ['a PUT asking for HTML', 'PUT', { accept: HTML }, false],
    ['headers in upper case values', 'GET', { 'sec-fetch-mode': 'NAVIGATE', 'sec-fetch-dest': 'Document' }, true],
  ])('%s → %s', (_name, method, headers, expected) => {
    expect(isTopLevelNavigation(method, headers)).toBe(expected);
  });
});
