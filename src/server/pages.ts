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

export function errorPage(options: { title: string; detail: string; code: string; retryUrl: string | undefined }): string {
  const retry = options.retryUrl === undefined ? '' : `<p><a href="${escapeHtml(options.retryUrl)}">Try again</a></p>`;
  return page(
    options.title,
    `<h1>${escapeHtml(options.title)}</h1><p>${escapeHtml(options.detail)}.</p>${retry}<p><small>Error code: <code>${escapeHtml(options.code)}</code></small></p>`,
  );
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

export function unavailablePage(cause: string): string {
  return page('Try again shortly', `<h1>Sign-in is not available right now.</h1><p>${escapeHtml(cause)} Try again in a few seconds.</p>`);
}
