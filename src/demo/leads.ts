/**
 * Synthetic sales leads for the demo and the benchmarks: deterministic for a seed, about 330
 * bytes each as NDJSON, 16 fields in all with two nested objects, ~3% of records holding a value
 * that needs CSV quoting or is non-ASCII, and ~1% invalid emails so validation has something to report.
 */
const firstNames = ['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth', 'Ana', 'Omar'];
const accentedFirstNames = ['José', 'Zoë', 'Chloé', 'Søren', 'Łukasz', '美咲'];
const lastNames = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez', "O'Brien"];
const accentedLastNames = ['Müller', 'Núñez', 'Ødegaard'];
const states = ['NY', 'CA', 'TX', 'FL', 'IL', 'PA', 'OH', 'GA', 'NC', 'MI', 'wa', 'ma'];
const cities = ['New York', 'Los Angeles', 'Houston', 'Miami', 'Chicago', 'Philadelphia', 'Columbus', 'Atlanta', 'Charlotte', 'Detroit'];
const sources = ['google_ads', 'facebook', 'referral', 'webinar', 'organic', 'partner_feed'];
const domains = ['example.com', 'mail.example.org', 'corp.example.net', 'example.co.uk'];
const notes = ['call after 5pm', 'prefers email', 'interested in "premium" plan', 'spoke to sales, wants follow-up', 'budget: 10,000-20,000', 'Café owner; needs quote'];

/** mulberry32: a tiny, fast, well-distributed PRNG; determinism matters more than quality here. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LeadOptions {
  readonly seed?: number;
  /** Share of leads with an invalid email (validation failures). */
  readonly invalidRatio?: number;
  /** Timestamp of the first lead; each next lead is 1.7 s later. */
  readonly start?: Date;
}

export function* generateLeads(count: number, opts: LeadOptions = {}): Generator<Record<string, unknown>> {
  const random = prng(opts.seed ?? 42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const digits = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 10)).join('');
  const invalid = opts.invalidRatio ?? 0.01;
  const start = (opts.start ?? new Date('2026-11-02T08:00:00Z')).getTime();
  for (let i = 1; i <= count; i++) {
    const first = random() < 0.01 ? pick(accentedFirstNames) : pick(firstNames);
    const last = random() < 0.01 ? pick(accentedLastNames) : pick(lastNames);
    const local = `${first}.${last}${i}`.toLowerCase().replace(/[^a-z0-9.]/g, '').replace(/^\.+/, '');
    const email = random() < invalid ? `${local}@` : `${random() < 0.2 ? ' ' : ''}${random() < 0.3 ? local.toUpperCase() : local}@${pick(domains)}`;
    const city = pick(cities);
    yield {
      id: `lead-${String(i).padStart(8, '0')}`,
      first_name: first,
      last_name: last,
      email,
      phone: `+1 (${digits(3)}) ${digits(3)}-${digits(4)}`,
      state: pick(states),
      city,
      source: pick(sources),
      score: Math.round(random() * 1000) / 10,
      consent: random() < 0.95,
      created_at: new Date(start + i * 1700).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      notes: random() < 0.02 ? pick(notes) : '',
      address: { street: `${digits(3)} ${pick(['Main', 'Oak', 'Maple', 'Cedar'])} St`, zip: digits(5) },
      meta: { ip: `10.${Math.floor(random() * 255)}.${Math.floor(random() * 255)}.${Math.floor(random() * 255)}` },
    };
  }
}
