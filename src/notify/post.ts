// The one HTTP POST of the Slack, webhook and PagerDuty channels.
import { readText } from '../core/http.js';
import { classify, classifyNotifyResponse } from '../errors/classify.js';

/** Longest answer body kept for an error message. */
const answerCap = 4096;

export interface PostOptions {
  /** The request for messages, without credentials: `POST slack webhook (hooks.slack.com)`. */
  readonly doing: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Values never to show in a message (webhook URLs, keys); replaced by ***. */
  readonly secrets: readonly string[];
  readonly signal: AbortSignal;
  readonly now: Date;
}

/** POSTs a JSON body; resolves on a 2xx, rejects with NOTIFY_UNAVAILABLE, NOTIFY_AUTH_FAILED or NOTIFY_REJECTED. */
export async function postJson(url: string, body: string, opts: PostOptions): Promise<void> {
  try {
    // Loaded here, not at import: undici costs every `lading` command a tenth of a second.
    const { request } = await import('undici');
    const response = await request(url, {
      method: 'POST', body, signal: opts.signal,
      headers: { 'content-type': 'application/json', 'user-agent': 'lading', ...opts.headers },
    });
    const text = await readText(response.body, answerCap);
    const error = classifyNotifyResponse(response.statusCode, response.headers, text, { doing: opts.doing, secrets: opts.secrets, now: opts.now });
    if (error) throw error;
  } catch (error) {
    throw classify(error, { ioCode: 'NOTIFY_UNAVAILABLE', doing: opts.doing, secrets: opts.secrets, notify: 'http' });
  }
}
