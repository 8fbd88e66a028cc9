import type { z } from 'zod';
import type { channelConfig } from './config.js';
import { hostOf, type Channel, type ChannelContext } from './channel.js';
import { postJson } from './post.js';

type SlackConfig = Extract<z.output<typeof channelConfig>, { type: 'slack' }>;

/** Slack incoming webhook: `{"text": …}`, the subject in bold above the body. */
export function slackChannel(config: SlackConfig, ctx: ChannelContext): Channel {
  const target = `${hostOf(config.webhook_url)} #${ctx.index + 1}`;
  return {
    type: 'slack', target,
    wants: () => true,
    send: (n, signal) => postJson(config.webhook_url, JSON.stringify({ text: `*${n.subject}*\n${n.text}` }), {
      doing: `POST slack webhook (${target})`, secrets: [config.webhook_url], signal, now: ctx.clock.now(),
    }),
  };
}
