/**
 * One error class for everything that can go wrong at run time, with a stable code.
 * The table below is the only place that maps a code to an HTTP status and to the words a
 * user sees; messages never carry token, cookie or secret values.
 */
export type ErrorCode =
  | 'OFA_CONFIG_INVALID'
  | 'OFA_SECRET_UNRESOLVED'
  | 'OFA_PROVIDER_UNAVAILABLE'
  | 'OFA_PROVIDER_TIMEOUT'
  | 'OFA_PROVIDER_RESPONSE'
  | 'OFA_DISCOVERY_ISSUER_MISMATCH'
  | 'OFA_CALLBACK_PROVIDER_ERROR'
  | 'OFA_CALLBACK_STATE_MISSING'
  | 'OFA_CALLBACK_STATE_MISMATCH'
  | 'OFA_CALLBACK_ISSUER_MISMATCH'
  | 'OFA_CALLBACK_CODE_MISSING'
  | 'OFA_CALLBACK_CODE_REJECTED'
  | 'OFA_TOKEN_EXCHANGE_FAILED'
  | 'OFA_ID_TOKEN_INVALID'
  | 'OFA_REFRESH_FAILED'
  | 'OFA_REQUEST_INVALID'
  | 'OFA_UNKNOWN_MIDDLEWARE'
  | 'OFA_INTERNAL'
  | 'OFA_LOGIN_REQUIRED'
  | 'OFA_CLAIMS_DENIED'
  | 'OFA_CSRF_INVALID'
  | 'OFA_SESSION_TOO_LARGE'
  | 'OFA_STORE_UNAVAILABLE'
  | 'OFA_IDENTITY_HEADERS_TOO_LARGE'
  | 'OFA_PAR_REJECTED'
  | 'OFA_BEARER_TOKEN_INVALID'
  | 'OFA_INTROSPECTION_BUSY';

export interface ErrorDescription {
  readonly status: number;
  /** Shown to the user on the error page; safe to show, says what happened. */
  readonly title: string;
  /**
   * Says nothing about the session or the request: something we depend on (the provider, the
   * session store) could not answer. Sessions are kept and the client is told to retry.
   */
  readonly transient?: true;
}

export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorDescription>> = Object.freeze({
  OFA_CONFIG_INVALID: { status: 500, title: 'The service is misconfigured.' },
  OFA_SECRET_UNRESOLVED: { status: 500, title: 'A secret could not be read.' },
  OFA_PROVIDER_UNAVAILABLE: { status: 503, title: 'The identity provider is not reachable yet.', transient: true },
  OFA_PROVIDER_TIMEOUT: { status: 504, title: 'The identity provider did not answer in time.', transient: true },
  OFA_PROVIDER_RESPONSE: { status: 502, title: 'The identity provider sent an answer we cannot use.', transient: true },
  OFA_DISCOVERY_ISSUER_MISMATCH: { status: 502, title: 'The identity provider does not match its configuration.' },
  OFA_CALLBACK_PROVIDER_ERROR: { status: 401, title: 'The identity provider did not sign you in.' },
  OFA_CALLBACK_STATE_MISSING: { status: 400, title: 'This sign-in link has expired or was already used.' },
  OFA_CALLBACK_STATE_MISMATCH: { status: 400, title: 'This sign-in response does not belong to this browser.' },
  OFA_CALLBACK_ISSUER_MISMATCH: { status: 400, title: 'This sign-in response came from an unexpected identity provider.' },
  OFA_CALLBACK_CODE_MISSING: { status: 400, title: 'The sign-in response is incomplete.' },
  OFA_CALLBACK_CODE_REJECTED: { status: 400, title: 'This sign-in link has expired or was already used.' },
  OFA_TOKEN_EXCHANGE_FAILED: { status: 502, title: 'The identity provider refused to complete the sign-in.' },
  OFA_ID_TOKEN_INVALID: { status: 401, title: 'The identity provider sent an identity we cannot trust.' },
  OFA_REFRESH_FAILED: { status: 401, title: 'Your session could not be renewed.' },
  OFA_REQUEST_INVALID: { status: 400, title: 'The request is malformed.' },
  OFA_UNKNOWN_MIDDLEWARE: { status: 404, title: 'No such middleware.' },
  OFA_INTERNAL: { status: 500, title: 'Something went wrong on our side.' },
  OFA_LOGIN_REQUIRED: { status: 401, title: 'You need to sign in.' },
  OFA_CLAIMS_DENIED: { status: 403, title: 'You are signed in, but not allowed here.' },
  OFA_CSRF_INVALID: { status: 403, title: 'The request is missing a valid CSRF token.' },
  OFA_SESSION_TOO_LARGE: { status: 401, title: 'Your identity carries more than a session cookie can hold.' },
  OFA_STORE_UNAVAILABLE: { status: 503, title: 'The session store is not reachable right now.', transient: true },
  OFA_IDENTITY_HEADERS_TOO_LARGE: { status: 500, title: 'Your identity is too large to pass on to the application.' },
  OFA_PAR_REJECTED: { status: 502, title: 'The identity provider refused to start the sign-in.' },
  OFA_BEARER_TOKEN_INVALID: { status: 401, title: 'The access token is not valid here.' },
  OFA_INTROSPECTION_BUSY: { status: 503, title: 'Too many access tokens are being checked right now.', transient: true },
});

export class OfaError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OfaError';
    this.code = code;
  }

  get status(): number {
    return ERROR_TABLE[this.code].status;
  }
}

export function isOfaError(value: unknown): value is OfaError {
  return value instanceof OfaError;
}

/** An error (ours or not) that says a dependency is down rather than anything about the request. */
export function isTransientError(error: unknown): error is OfaError {
  return isOfaError(error) && ERROR_TABLE[error.code].transient === true;
}
