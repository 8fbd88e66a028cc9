import { hostname } from 'node:os';
import type { z } from 'zod';
import { lazy } from '../core/lazy.js';
import { classify } from '../errors/classify.js';
import type { channelConfig } from './config.js';
import type { Channel, ChannelContext } from './channel.js';

/** nodemailer costs ~70 ms and 15 MB to import: loaded when the first mail is sent, as most runs send none. */
const loadNodemailer = lazy(() => import('nodemailer'));

type EmailConfig = Extract<z.output<typeof channelConfig>, { type: 'email' }>;

/** Plain-text mail over SMTP (nodemailer), one connection per message: alerts are rare. */
export function emailChannel(config: EmailConfig, ctx: ChannelContext & { readonly timeoutMs: number }): Channel {
  const to = typeof config.to === 'string' ? [config.to] : config.to;
  const { smtp } = config;
  const target = to.join(', ');
  const doing = `sending mail to ${target} via ${smtp.host}:${smtp.port}`;
  return {
    type: 'email', target,
    wants: () => true,
    async send(n, signal) {
      const { createTransport } = await loadNodemailer();
      const transport = createTransport({
        host: smtp.host, port: smtp.port, secure: smtp.secure,
        ...(smtp.username !== undefined && smtp.password !== undefined ? { auth: { user: smtp.username, pass: smtp.password } } : {}),
        connectionTimeout: ctx.timeoutMs, greetingTimeout: ctx.timeoutMs, socketTimeout: ctx.timeoutMs,
      });
      const abort = () => transport.close();
      signal.addEventListener('abort', abort, { once: true });
      try {
        signal.throwIfAborted();
        await transport.sendMail({ from: config.from ?? `lading@${hostname()}`, to, subject: n.subject, text: n.text, ...(n.html === undefined ? {} : { html: n.html }) });
      } catch (error) {
        throw classify(signal.aborted ? signal.reason : error, { ioCode: 'NOTIFY_UNAVAILABLE', doing, secrets: smtp.password === undefined ? [] : [smtp.password], notify: 'smtp' });
      } finally {
        signal.removeEventListener('abort', abort);
        transport.close();
      }
    },
  };
}
