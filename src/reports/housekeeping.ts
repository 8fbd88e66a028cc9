// Daily chores of a long-running lading (serve, triggers): purge per retention: once a day, and
// mail the daily report at reports.daily.at. When each last ran is kept in the store (as the
// schedule triggers' fires are), so a restart neither repeats nor forgets a day.
import { tickLoop } from '../core/loop.js';
import type { LoadedPipeline } from '../config/load.js';
import { systemClock, type Clock } from '../core/clock.js';
import { classify } from '../errors/classify.js';
import { emailChannel } from '../notify/email.js';
import type { Store } from '../store/types.js';
import { Schedule } from '../triggers/schedule.js';
import type { ReportsConfig } from './config.js';
import { dailyReport, previousDate } from './daily.js';
import { renderDailyHtml, renderDailyText } from './render.js';
import { purgePipeline, type PurgeOutcome } from './retention.js';

const DAY = 86_400_000;
const purgeKey = 'retention:daily';
const reportKey = 'reports:daily';

export type HousekeepingEvent =
  | ({ readonly type: 'purged' } & PurgeOutcome)
  | { readonly type: 'report_sent'; readonly pipeline: string; readonly date: string; readonly to: string }
  | { readonly type: 'error'; readonly pipeline: string; readonly code: string; readonly message: string };

export interface HousekeepingOptions {
  readonly store: Store;
  readonly dataDir: string;
  readonly pipelines: readonly LoadedPipeline[];
  readonly clock?: Clock;
  /** Time between looks at the clock. Default 60s. */
  readonly tickMs?: number;
  readonly onEvent?: (event: HousekeepingEvent) => void;
}

/** Mails one pipeline's report of `date` through the notify email channel. */
export async function sendDailyReport(store: Store, pipeline: string, daily: NonNullable<ReportsConfig['daily']>, date: string, clock: Clock): Promise<string> {
  const report = await dailyReport(store, { date, timezone: daily.timezone, pipeline });
  const channel = emailChannel(daily.email, { clock, index: 0, timeoutMs: 30_000 });
  const t = report.totals;
  await channel.send({
    event: 'success', rule: null, pipeline, runId: null, at: clock.now(), consecutive: 0, dedupKey: `lading/${pipeline}/daily-report/${date}`,
    subject: `[lading] ${pipeline}: daily report ${date} - ${t.runs_failed === 0 ? 'all runs succeeded' : `${t.runs_failed} failed run${t.runs_failed === 1 ? '' : 's'}`}`,
    text: renderDailyText(report), html: renderDailyHtml(report), details: {},
  }, AbortSignal.timeout(30_000));
  return channel.target;
}

export class Housekeeper {
  readonly #opts: HousekeepingOptions;
  readonly #clock: Clock;
  #loop: Promise<void> | undefined;
  #stopping: AbortController | undefined;

  constructor(opts: HousekeepingOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
  }

  /** True when some pipeline has chores (retention: or reports.daily). */
  get busy(): boolean {
    return this.#opts.pipelines.some((p) => p.config.retention !== undefined || p.config.reports?.daily !== undefined);
  }

  start(): void {
    if (this.#loop || !this.busy) return;
    const stopping = new AbortController();
    this.#stopping = stopping;
    this.#loop = tickLoop(this.#clock, this.#opts.tickMs ?? 60_000, stopping.signal, () => this.tick());
  }

  async stop(): Promise<void> {
    this.#stopping?.abort();
    await this.#loop;
    this.#loop = undefined;
  }

  /** Does what is due for every pipeline; a failure is reported as an event and tried again at the next tick. */
  async tick(): Promise<void> {
    for (const { config } of this.#opts.pipelines) {
      try {
        if (config.retention) await this.#purge(config.name, config.retention);
        if (config.reports?.daily) await this.#report(config.name, config.reports.daily);
      } catch (error) {
        const e = classify(error, { ioCode: 'STORE_FAILED', doing: `housekeeping of ${config.name}` });
        this.#opts.onEvent?.({ type: 'error', pipeline: config.name, code: e.code, message: e.message });
      }
    }
  }

  async #purge(pipeline: string, retention: NonNullable<LoadedPipeline['config']['retention']>): Promise<void> {
    const { store } = this.#opts;
    const now = this.#clock.now();
    const last = await store.lastFire(pipeline, purgeKey);
    if (last !== null && now.getTime() - last.getTime() < DAY) return;
    const outcome = await purgePipeline(store, pipeline, retention, { now, dataDir: this.#opts.dataDir });
    await store.recordFire(pipeline, purgeKey, now);
    this.#opts.onEvent?.({ type: 'purged', ...outcome });
  }

  async #report(pipeline: string, daily: NonNullable<ReportsConfig['daily']>): Promise<void> {
    const { store } = this.#opts;
    const now = this.#clock.now();
    const last = await store.lastFire(pipeline, reportKey);
    // The first start only arms the schedule: no report for days before lading watched them.
    if (last === null) return store.recordFire(pipeline, reportKey, now);
    const [hour, minute] = daily.at.split(':').map(Number);
    const fire = new Schedule({ cron: `${minute} ${hour} * * *`, timezone: daily.timezone, dst: { nonexistent: 'shift', ambiguous: 'first' } }).latest(last, now);
    if (fire === null) return;
    const date = previousDate(fire, daily.timezone);
    const to = await sendDailyReport(store, pipeline, daily, date, this.#clock);
    await store.recordFire(pipeline, reportKey, fire);
    this.#opts.onEvent?.({ type: 'report_sent', pipeline, date, to });
  }
}
