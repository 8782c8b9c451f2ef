// A local HTTP server speaking the two protocols the FCM sender talks (src/push/fcm.ts):
// - Google's OAuth2 token endpoint, JWT bearer assertion grant: the RS256 assertion is verified
//   against the service account's public key (iss, aud, scope, lifetime);
// - FCM HTTP v1 `POST /v1/projects/{id}/messages:send`: bearer token checked, message validated,
//   with failures the tests program (429 + Retry-After, 500/503, 404 UNREGISTERED, 400
//   INVALID_ARGUMENT) answered with the error bodies FCM sends.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { decodeProtectedHeader, jwtVerify } from 'jose';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';

/** A Google service account with a freshly generated RSA key. */
export interface ServiceAccount {
  projectId: string;
  clientEmail: string;
  privateKeyPem: string;
  publicKey: KeyObject;
}

export function newServiceAccount(projectId = `test-project-${randomBytes(3).toString('hex')}`): ServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    projectId,
    clientEmail: `push@${projectId}.iam.gserviceaccount.com`,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey,
  };
}

/** What the next send answers instead of 200. */
export type FcmFailure =
  | { status: 429; retryAfter?: number | string }
  | { status: 500 | 503; retryAfter?: number }
  | { status: 404; code: 'UNREGISTERED' }
  | { status: 400; code: 'INVALID_ARGUMENT'; about: 'token' | 'payload' }
  | { status: 401 }
  | { status: 403; code: 'SENDER_ID_MISMATCH' };

export interface TokenRequest {
  at: number;
  status: number;
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
  error?: string;
}

export interface SendRequest {
  at: number;
  status: number;
  /** The device token of the message (message.token). */
  token: string | undefined;
  authorization: string | undefined;
  path: string;
  body: any;
}

export interface FakeFcm {
  url: string;
  tokenUrl: string;
  account: ServiceAccount;
  /** FCM_* variables for an app that pushes here. */
  env(): Record<string, string>;
  tokenRequests: TokenRequest[];
  sends: SendRequest[];
  /** expires_in of the access tokens issued from now on. */
  tokenLifetimeSeconds: number;
  /** Milliseconds each send takes (to widen races). */
  sendDelayMs: number;
  /** The next sends to this device token (or to any token) answer these, in order. */
  failNext(deviceToken: string | null, ...failures: FcmFailure[]): void;
  /** Every later send to this device token answers 404 UNREGISTERED. */
  unregister(deviceToken: string): void;
  /** Every access token issued so far is refused (401) from now on. */
  revokeAccessTokens(): void;
  /** The next token requests answer this status. */
  failTokenEndpoint(status: number, times?: number): void;
  /** Sends answered 200, for one device token or all. */
  delivered(deviceToken?: string): SendRequest[];
  close(): Promise<void>;
}

const FCM_ERROR = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';

function googleError(code: number, status: string, message: string, details: unknown[] = []) {
  return { error: { code, message, status, details } };
}

function failureBody(failure: FcmFailure) {
  switch (failure.status) {
    case 429:
      return googleError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric of service fcm.googleapis.com', [
        { '@type': FCM_ERROR, errorCode: 'QUOTA_EXCEEDED' },
      ]);
    case 500:
      return googleError(500, 'INTERNAL', 'Internal error encountered.', [{ '@type': FCM_ERROR, errorCode: 'INTERNAL' }]);
    case 503:
      return googleError(503, 'UNAVAILABLE', 'The service is currently unavailable.', [
        { '@type': FCM_ERROR, errorCode: 'UNAVAILABLE' },
      ]);
    case 404:
      return googleError(404, 'NOT_FOUND', 'Requested entity was not found.', [
        { '@type': FCM_ERROR, errorCode: 'UNREGISTERED' },
      ]);
    case 400:
      return failure.about === 'token'
        ? googleError(400, 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token', [
            { '@type': FCM_ERROR, errorCode: 'INVALID_ARGUMENT' },
            {
              '@type': 'type.googleapis.com/google.rpc.BadRequest',
              fieldViolations: [{ field: 'message.token', description: 'The registration token is not a valid FCM registration token' }],
            },
          ])
        : invalidPayload('message.data[0].value', 'Invalid value');
    case 401:
      return unauthenticated();
    case 403:
      return googleError(403, 'PERMISSION_DENIED', 'SenderId mismatch', [
        { '@type': FCM_ERROR, errorCode: 'SENDER_ID_MISMATCH' },
      ]);
  }
}

function invalidPayload(field: string, description: string) {
  return googleError(400, 'INVALID_ARGUMENT', `Invalid value at '${field}': ${description}`, [
    { '@type': FCM_ERROR, errorCode: 'INVALID_ARGUMENT' },
    { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field, description }] },
  ]);
}

function unauthenticated() {
  return googleError(
    401,
    'UNAUTHENTICATED',
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
  );
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function answer(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  response.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
  response.end(JSON.stringify(body));
}

/** FCM v1 rejects a message without a target, or with data values that are not strings. */
function messageProblem(body: any): { field: string; description: string } | null {
  const message = body?.message;
  if (!message || typeof message !== 'object') return { field: 'message', description: 'Required' };
  if (typeof message.token !== 'string' || message.token === '') return { field: 'message.token', description: 'Required' };
  const data = message.data ?? {};
  for (const [key, value] of Object.entries(data)) {
    if (typeof value !== 'string') return { field: `message.data[${key}].value`, description: 'must be a string' };
  }
  const n = message.notification;
  if (n !== undefined && (typeof n !== 'object' || typeof n.title !== 'string' || typeof n.body !== 'string')) {
    return { field: 'message.notification', description: 'title and body must be strings' };
  }
  return null;
}

export async function startFakeFcm(account: ServiceAccount = newServiceAccount()): Promise<FakeFcm> {
  const accessTokens = new Map<string, { expiresAt: number; revoked: boolean }>();
  const failures = new Map<string | null, FcmFailure[]>();
  const unregistered = new Set<string>();
  const tokenFailures: number[] = [];
  let base = '';

  const fake: Omit<FakeFcm, 'url' | 'tokenUrl' | 'close'> = {
    account,
    env: () => ({
      FCM_CREDENTIALS: JSON.stringify({
        type: 'service_account',
        project_id: account.projectId,
        private_key_id: randomBytes(20).toString('hex'),
        private_key: account.privateKeyPem,
        client_email: account.clientEmail,
        token_uri: `${base}/token`,
      }),
      FCM_BASE_URL: base,
      FCM_TOKEN_URL: `${base}/token`,
    }),
    tokenRequests: [],
    sends: [],
    tokenLifetimeSeconds: 3600,
    sendDelayMs: 0,
    failNext(deviceToken, ...list) {
      failures.set(deviceToken, [...(failures.get(deviceToken) ?? []), ...list]);
    },
    unregister(deviceToken) {
      unregistered.add(deviceToken);
    },
    revokeAccessTokens() {
      for (const t of accessTokens.values()) t.revoked = true;
    },
    failTokenEndpoint(status, times = 1) {
      for (let i = 0; i < times; i++) tokenFailures.push(status);
    },
    delivered(deviceToken) {
      return fake.sends.filter((s) => s.status === 200 && (deviceToken === undefined || s.token === deviceToken));
    },
  };

  async function token(request: IncomingMessage, response: ServerResponse) {
    const record: TokenRequest = { at: Date.now(), status: 400 };
    fake.tokenRequests.push(record);
    const refuse = (status: number, error: string, description: string) => {
      record.status = status;
      record.error = `${error}: ${description}`;
      answer(response, status, { error, error_description: description });
    };
    const failure = tokenFailures.shift();
    if (failure) return refuse(failure, 'internal_failure', 'programmed failure');
    if (!String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      return refuse(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(await readBody(request));
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      return refuse(400, 'unsupported_grant_type', `Invalid grant_type: ${form.get('grant_type')}`);
    }
    const assertion = form.get('assertion') ?? '';
    try {
      record.header = decodeProtectedHeader(assertion) as Record<string, unknown>;
      const { payload } = await jwtVerify(assertion, account.publicKey, {
        algorithms: ['RS256'],
        issuer: account.clientEmail,
        audience: `${base}/token`,
        requiredClaims: ['iat', 'exp', 'scope'],
      });
      record.claims = payload as Record<string, unknown>;
      if (!String(payload.scope).split(' ').includes(FCM_SCOPE)) {
        return refuse(400, 'invalid_scope', 'The firebase.messaging scope is required');
      }
      if ((payload.exp as number) - (payload.iat as number) > 3600) {
        return refuse(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes)');
      }
    } catch (error) {
      return refuse(400, 'invalid_grant', `Invalid JWT Signature or claims: ${(error as Error).message}`);
    }
    const accessToken = `ya29.fake-${fake.tokenRequests.length}-${randomBytes(8).toString('hex')}`;
    accessTokens.set(accessToken, { expiresAt: Date.now() + fake.tokenLifetimeSeconds * 1000, revoked: false });
    record.status = 200;
    answer(response, 200, { access_token: accessToken, expires_in: fake.tokenLifetimeSeconds, token_type: 'Bearer' });
  }

  async function send(request: IncomingMessage, response: ServerResponse, projectId: string) {
    const text = await readBody(request);
    let body: any = null;
    try {
      body = JSON.parse(text);
    } catch {
      // answered below
    }
    const record: SendRequest = {
      at: Date.now(),
      status: 0,
      token: typeof body?.message?.token === 'string' ? body.message.token : undefined,
      authorization: request.headers.authorization,
      path: request.url ?? '',
      body,
    };
    fake.sends.push(record);
    if (fake.sendDelayMs > 0) await new Promise((r) => setTimeout(r, fake.sendDelayMs));
    const reply = (status: number, payload: unknown, headers?: Record<string, string>) => {
      record.status = status;
      answer(response, status, payload, headers);
    };
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const grant = bearer ? accessTokens.get(bearer) : undefined;
    if (!grant || grant.revoked || grant.expiresAt <= Date.now()) return reply(401, unauthenticated());
    if (projectId !== account.projectId) return reply(404, googleError(404, 'NOT_FOUND', 'Requested entity was not found.'));
    if (body === null) return reply(400, googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.'));
    const problem = messageProblem(body);
    if (problem) return reply(400, invalidPayload(problem.field, problem.description));
    const deviceToken: string = body.message.token;
    const queue = failures.get(deviceToken)?.length ? failures.get(deviceToken)! : failures.get(null);
    const failure = queue?.shift();
    if (failure) {
      const retryAfter = 'retryAfter' in failure && failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : undefined;
      return reply(failure.status, failureBody(failure), retryAfter);
    }
    if (unregistered.has(deviceToken)) return reply(404, failureBody({ status: 404, code: 'UNREGISTERED' }));
    reply(200, { name: `projects/${account.projectId}/messages/${fake.sends.length}:${randomBytes(4).toString('hex')}` });
  }

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://fake');
    const sendPath = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(url.pathname);
    let handled: Promise<void>;
    if (request.method === 'POST' && url.pathname === '/token') handled = token(request, response);
    else if (request.method === 'POST' && sendPath) handled = send(request, response, decodeURIComponent(sendPath[1]));
    else handled = Promise.resolve(answer(response, 404, googleError(404, 'NOT_FOUND', 'Not found')));
    handled.catch((error) => answer(response, 500, googleError(500, 'INTERNAL', String(error))));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  return Object.assign(fake, {
    url: base,
    tokenUrl: `${base}/token`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
