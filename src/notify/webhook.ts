import { createHmac, timingSafeEqual } from 'node:crypto';
import type { z } from 'zod';
import type { channelConfig } from './config.js';
import type { Channel, ChannelContext, Notification } from './channel.js';
import { postJson } from './post.js';

type WebhookConfig = Extract<z.output<typeof channelConfig>, { type: 'webhook' }>;

/**
 * The signature scheme (docs/notifications.md): `X-Lading-Timestamp` is the send time in Unix
 * seconds; `X-Lading-Signature` is `sha256=` + hex HMAC-SHA256, keyed with the channel's secret,
 * of `<timestamp>.<raw body>`. Signing the timestamp with the body lets a receiver refuse replays.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers: true when the signature matches and the timestamp is within `toleranceSeconds` of `now`. */
export function verifyWebhookSignature(secret: string, request: { readonly timestamp: string | undefined; readonly signature: string | undefined; readonly body: string }, now: Date = new Date(), toleranceSeconds = 300): boolean {
  const { timestamp, signature, body } = request;
  if (timestamp === undefined || signature === undefined || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(now.getTime() / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(webhookSignature(secret, timestamp, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export const webhookBody = (n: Notification) => ({
  event: n.event, rule: n.rule, pipeline: n.pipeline, run_id: n.runId, at: n.at.toISOString(),
  subject: n.subject, text: n.text, consecutive: n.consecutive, dedup_key: n.dedupKey, details: n.details,
});

/** A JSON POST per notification, signed so the receiver can tell it came from this lading. */
export function webhookChannel(config: WebhookConfig, ctx: ChannelContext): Channel {
  const url = new URL(config.url);
  const target = `${url.origin}${url.pathname}`;
  return {
    type: 'webhook', target,
    wants: () => true,
    send: (n, signal) => {
      const body = JSON.stringify(webhookBody(n));
      const timestamp = String(Math.floor(ctx.clock.now().getTime() / 1000));
      return postJson(config.url, body, {
        doing: `POST webhook ${target}`, secrets: [config.secret], signal, now: ctx.clock.now(),
        headers: { 'x-lading-event': n.event, 'x-lading-timestamp': timestamp, 'x-lading-signature': webhookSignature(config.secret, timestamp, body) },
      });
    },
  };
}
