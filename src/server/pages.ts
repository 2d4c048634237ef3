/** The small HTML pages a browser may see from us: an error with a way back, and "signed out". */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char] ?? char);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:0 .25rem}</style></head>
<body>${body}</body></html>
`;
}

export interface ErrorPageOptions {
  readonly title: string;
  readonly detail: string;
  readonly code: string;
  readonly retryUrl: string | undefined;
  /** A signed-in user who is refused: offer to sign out (the logout URL, when one is configured) and in as someone else. */
  readonly switchUser?: { readonly signOutUrl: string | undefined } | undefined;
}

export function errorPage(options: ErrorPageOptions): string {
  const retry = options.retryUrl === undefined ? '' : `<p><a href="${escapeHtml(options.retryUrl)}">Try again</a></p>`;
  return page(
    options.title,
    `<h1>${escapeHtml(options.title)}</h1><p>${escapeHtml(options.detail)}.</p>${retry}${switchUserLine(options.switchUser)}${codeLine(options.code)}`,
  );
}

function switchUserLine(switchUser: ErrorPageOptions['switchUser']): string {
  if (switchUser === undefined) return '';
  if (switchUser.signOutUrl === undefined) {
    // Without a logout URL we cannot end the session; the provider's own sign-out is the way.
    return '<p>To use another account, sign out at your identity provider and open this page again.</p>';
  }
  return `<p><a href="${escapeHtml(switchUser.signOutUrl)}">Sign out</a> to use another account.</p>`;
}

function codeLine(code: string): string {
  return `<p><small>Error code: <code>${escapeHtml(code)}</code></small></p>`;
}

export function signedOutPage(): string {
  return page('Signed out', '<h1>You are signed out.</h1><p>You can close this window.</p>');
}

/** A sign-out another site asked for: nothing happens until the user follows the link (a same-origin navigation). */
export function confirmLogoutPage(logoutUrl: string): string {
  return page(
    'Sign out?',
    `<h1>Sign out?</h1><p>Another site asked to sign you out. You are still signed in.</p><p><a href="${escapeHtml(logoutUrl)}">Sign out</a></p>`,
  );
}

export function unavailablePage(cause: string, code: string): string {
  return page('Try again shortly', `<h1>Sign-in is not available right now.</h1><p>${escapeHtml(cause)} Try again in a few seconds.</p>${codeLine(code)}`);
}
