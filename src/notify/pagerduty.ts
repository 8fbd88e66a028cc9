import type { z } from 'zod';
import type { channelConfig } from './config.js';
import { hostOf, type Channel, type ChannelContext, type Notification } from './channel.js';
import { postJson } from './post.js';

type PagerDutyConfig = Extract<z.output<typeof channelConfig>, { type: 'pagerduty' }>;

const severity = (n: Notification): 'critical' | 'error' | 'warning' =>
  n.rule === 'deliveries_suspended' ? 'critical' : n.rule === 'batch_failed' ? 'error' : 'warning';

/**
 * PagerDuty Events API v2: an alert triggers an incident once the rule has been breached
 * `after_consecutive_failures` runs in a row; its recovery resolves it (same dedup_key).
 * Successes are not paged.
 */
export function pagerdutyChannel(config: PagerDutyConfig, ctx: ChannelContext): Channel {
  const target = `${hostOf(config.url)} #${ctx.index + 1}`;
  const body = (n: Notification) => n.event === 'recovery'
    ? { routing_key: config.routing_key, event_action: 'resolve', dedup_key: n.dedupKey }
    : {
        routing_key: config.routing_key, event_action: 'trigger', dedup_key: n.dedupKey,
        payload: {
          summary: n.subject.slice(0, 1024), source: `lading:${n.pipeline}`, severity: severity(n), timestamp: n.at.toISOString(),
          component: n.pipeline, group: 'lading', class: n.rule ?? 'run', custom_details: n.details,
        },
      };
  return {
    type: 'pagerduty', target,
    wants: (n) => n.event === 'recovery' || (n.event === 'alert' && n.consecutive >= config.after_consecutive_failures),
    send: (n, signal) => postJson(config.url, JSON.stringify(body(n)), {
      doing: `POST pagerduty event (${target})`, secrets: [config.routing_key], signal, now: ctx.clock.now(),
    }),
  };
}
