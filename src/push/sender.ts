// How one notification reaches one device. The logging sender is the embedded default (push is
// recorded in the outbox and logged, nothing leaves the machine); FCM HTTP v1 is the production one.
import type { FastifyBaseLogger } from 'fastify';

export interface PushDevice {
  token: string;
  platform: string;
}

export interface OutboxMessage {
  id: number;
  userId: string;
  event: string;
  chatId: string | null;
  title: string;
  body: string;
}

export type SendResult =
  | { status: 'sent' }
  /** The token is dead (unregistered/invalid): forget the device. */
  | { status: 'unregistered' }
  /** Try again later (429, 5xx, network); retryAfterMs when the server said so. */
  | { status: 'retry'; error: string; retryAfterMs?: number }
  /** Will never succeed (bad request): give up on this device. */
  | { status: 'failed'; error: string };

export interface PushSender {
  readonly name: string;
  send(device: PushDevice, message: OutboxMessage): Promise<SendResult>;
}

export class LoggingPushSender implements PushSender {
  readonly name = 'log';
  constructor(private readonly log: FastifyBaseLogger) {}

  async send(device: PushDevice, message: OutboxMessage): Promise<SendResult> {
    this.log.info(
      { push: { user: message.userId, event: message.event, chat: message.chatId, platform: device.platform } },
      `push (not sent: no FCM configured): ${message.title}`,
    );
    return { status: 'sent' };
  }
}
