// The production push sender: FCM HTTP v1 with a service account (DESIGN.md "push"). No
// firebase-admin: its hosts are hard-coded, while both URLs here are configuration
// (FCM_BASE_URL, FCM_TOKEN_URL), so the tests run it end to end against a local server.
//
// OAuth: an RS256 JWT assertion signed with the service account's key is exchanged at the token
// URI for an access token (grant type jwt-bearer), cached until shortly before it expires.
import { importPKCS8, SignJWT, type CryptoKey } from 'jose';
import type { FastifyBaseLogger } from 'fastify';
import { ConfigError, type Config } from '../config.js';
import type { OutboxMessage, PushDevice, PushSender, SendResult } from './sender.js';

export type FcmConfig = NonNullable<Config['push']['fcm']>;

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ASSERTION_LIFETIME_SECONDS = 3600;

export interface FcmSenderOptions {
  log?: FastifyBaseLogger;
  /** Per HTTP request (token and send); a timeout is retried like a 5xx. */
  timeoutMs?: number;
  now?: () => number;
}

/** The error body of Google APIs: {error: {code, message, status, details: [...]}}. */
interface GoogleError {
  code?: number;
  message?: string;
  status?: string;
  details?: { '@type'?: string; errorCode?: string; fieldViolations?: { field?: string; description?: string }[] }[];
}

export class FcmPushSender implements PushSender {
  readonly name = 'fcm';
  private readonly sendUrl: string;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private key: Promise<CryptoKey> | null = null;
  private token: { value: string; refreshAt: number } | null = null;
  /** One token request at a time: concurrent sends share it. */
  private pendingToken: Promise<string> | null = null;

  constructor(
    private readonly config: FcmConfig,
    private readonly options: FcmSenderOptions = {},
  ) {
    this.sendUrl = `${config.baseUrl.replace(/\/+$/, '')}/v1/projects/${encodeURIComponent(config.projectId)}/messages:send`;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  async send(device: PushDevice, message: OutboxMessage): Promise<SendResult> {
    const payload = JSON.stringify(fcmMessage(device, message));
    let attempt = await this.authorizedPost(payload);
    if ('retry' in attempt) return attempt.retry;
    let error = await googleError(attempt.response);
    // An access token revoked or expired early: fetch a new one and try once more. (A 401 with
    // THIRD_PARTY_AUTH_ERROR is about the APNs/web-push credentials, not our token.)
    if (attempt.response.status === 401 && error.fcmCode !== 'THIRD_PARTY_AUTH_ERROR') {
      this.forget(attempt.token);
      attempt = await this.authorizedPost(payload);
      if ('retry' in attempt) return attempt.retry;
      error = await googleError(attempt.response);
    }
    return resultOf(attempt.response, error);
  }

  /**
   * Fails start-up (STYLE.md 5) when the service account's key cannot sign, instead of every push
   * failing later.
   */
  async checkCredentials(): Promise<void> {
    try {
      await this.signingKey();
    } catch {
      this.key = null;
      throw new ConfigError('FCM_CREDENTIALS', 'has a private_key that is not an RSA private key in PKCS#8 PEM');
    }
  }

  /** The cached access token, or a new one when it is about to expire. */
  accessToken(): Promise<string> {
    if (this.token && this.now() < this.token.refreshAt) return Promise.resolve(this.token.value);
    this.pendingToken ??= this.fetchToken().finally(() => {
      this.pendingToken = null;
    });
    return this.pendingToken;
  }

  private forget(token: string) {
    if (this.token?.value === token) this.token = null;
  }

  private async authorizedPost(
    payload: string,
  ): Promise<{ response: Response; token: string } | { retry: SendResult }> {
    let token: string;
    try {
      token = await this.accessToken();
    } catch (error) {
      // Not the device's fault: keep the notification and try again later.
      this.options.log?.warn({ err: error }, 'FCM access token request failed');
      return { retry: { status: 'retry', error: `access token: ${(error as Error).message}` } };
    }
    try {
      const response = await fetch(this.sendUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
        body: payload,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      return { response, token };
    } catch (error) {
      return { retry: { status: 'retry', error: `FCM unreachable: ${(error as Error).message}` } };
    }
  }

  private signingKey(): Promise<CryptoKey> {
    // Keys pasted into an env file sometimes keep their newlines as the two characters \n.
    this.key ??= importPKCS8(this.config.privateKey.replace(/\\n/g, '\n'), 'RS256');
    return this.key;
  }

  private async fetchToken(): Promise<string> {
    const issuedAt = Math.floor(this.now() / 1000);
    const assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(this.config.clientEmail)
      .setAudience(this.config.tokenUri)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + ASSERTION_LIFETIME_SECONDS)
      .sign(await this.signingKey());
    const response = await fetch(this.config.tokenUri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString(),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const body = (await response.json().catch(() => ({}))) as {
      access_token?: unknown;
      expires_in?: unknown;
      error?: unknown;
      error_description?: unknown;
    };
    if (!response.ok || typeof body.access_token !== 'string') {
      const reason = [body.error, body.error_description].filter((v) => typeof v === 'string').join(': ');
      throw new Error(`token endpoint answered ${response.status}${reason ? ` (${reason})` : ''}`);
    }
    const lifetimeMs = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 3600) * 1000;
    // Refreshed a little before it expires (a minute for Google's one-hour tokens), so a send never
    // goes out with a token that expires on the way.
    this.token = { value: body.access_token, refreshAt: this.now() + lifetimeMs - Math.min(60_000, lifetimeMs / 10) };
    return body.access_token;
  }
}

/** The FCM v1 message: a visible notification plus data {event, chat} (supporting-api.md Socket.IO). */
export function fcmMessage(device: PushDevice, message: OutboxMessage) {
  return {
    message: {
      token: device.token,
      notification: { title: message.title, body: message.body },
      // FCM data values must be strings; `chat` is left out when the event is not about a chat.
      data: { event: message.event, ...(message.chatId ? { chat: message.chatId } : {}) },
      ...(device.platform === 'android' ? { android: { priority: 'high' } } : {}),
      ...(device.platform === 'ios'
        ? { apns: { headers: { 'apns-priority': '10' }, payload: { aps: { sound: 'default' } } } }
        : {}),
      ...(device.platform === 'web' ? { webpush: { headers: { Urgency: 'high' } } } : {}),
    },
  };
}

/** Reads the answer (always, so the connection is freed) and the error it names, if any. */
async function googleError(response: Response): Promise<{ fcmCode?: string; message: string; aboutToken: boolean }> {
  const text = await response.text().catch(() => '');
  if (response.ok) return { message: '', aboutToken: false };
  let error: GoogleError = {};
  try {
    error = (JSON.parse(text) as { error?: GoogleError }).error ?? {};
  } catch {
    // not JSON (a proxy's error page): the status alone decides
  }
  const details = Array.isArray(error.details) ? error.details : [];
  const fcmCode = details.find((d) => typeof d?.errorCode === 'string')?.errorCode ?? error.status;
  const aboutToken =
    details.some((d) => d?.fieldViolations?.some((v) => v?.field === 'message.token')) ||
    /registration token/i.test(error.message ?? '');
  return { fcmCode, message: error.message ?? text.slice(0, 200), aboutToken };
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get('retry-after');
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function resultOf(response: Response, error: { fcmCode?: string; message: string; aboutToken: boolean }): SendResult {
  const { status } = response;
  if (response.ok) return { status: 'sent' };
  const description = `FCM ${status}${error.fcmCode ? ` ${error.fcmCode}` : ''}${error.message ? `: ${error.message}` : ''}`;
  // The token will never work again: the app was uninstalled, the token is malformed, or it
  // belongs to another Firebase project. The worker deletes the device.
  if (status === 404 && error.fcmCode === 'UNREGISTERED') return { status: 'unregistered' };
  if (status === 400 && error.fcmCode === 'INVALID_ARGUMENT' && error.aboutToken) return { status: 'unregistered' };
  if (status === 403 && error.fcmCode === 'SENDER_ID_MISMATCH') return { status: 'unregistered' };
  // Overload (429 QUOTA_EXCEEDED), outages (5xx) and a token refused twice (401) pass: try later.
  if (status === 429 || status >= 500 || status === 401) {
    return { status: 'retry', error: description, retryAfterMs: retryAfterMs(response) };
  }
  return { status: 'failed', error: description };
}
