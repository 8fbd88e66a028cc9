// The executor benchmark's per-record handler: called once per lead and does nothing, so what is
// measured is lading's own overhead of a call per record (rate-limit gate, context, failure capture).
export function process() {}
