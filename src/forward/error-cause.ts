/**
 * What a log line may say about an error that is not one of ours (or the cause behind one of
 * ours): its type, its code, where it was thrown and its message with anything token-shaped cut
 * out. Libraries and Node put values in messages (a header value, a claim), so the message is
 * scrubbed rather than trusted; the stack frames name only our files and lines.
 */

/** Long runs of base64url/JWT characters: tokens, cookie values, secrets, codes. */
const TOKEN_LIKE = /[A-Za-z0-9_\-+/=.~]{20,}/g;
const MAX_MESSAGE_CHARS = 200;
const STACK_FRAMES = 3;

export interface ErrorCause {
  readonly type: string;
  readonly code?: string;
  readonly message: string;
  readonly at: readonly string[];
}

export function describeErrorCause(error: unknown): ErrorCause {
  if (!(error instanceof Error)) return { type: typeof error, message: '(not an Error)', at: [] };
  const code = (error as { code?: unknown }).code;
  const message = error.message.replace(TOKEN_LIKE, '[redacted]').slice(0, MAX_MESSAGE_CHARS);
  const at = (error.stack ?? '')
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .slice(0, STACK_FRAMES)
    .map((line) => line.trim());
  return { type: error.name, ...(typeof code === 'string' ? { code } : {}), message, at };
}
