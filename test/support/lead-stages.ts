/**
 * The validate and map of the tests that run a pipeline both ways (main thread, worker threads)
 * and compare: a required and a formatted field, a pattern that only warns, and transforms that
 * fail on the wrong kind of value.
 */
export const leadStages = {
  validate: { required: ['email'], rules: { email: { format: 'email' }, state: { pattern: '^[A-Za-z]{2}$', severity: 'warn' } } },
  map: [
    { name: 'lead_id', source: 'id' },
    { name: 'email', transform: ['trim', 'lowercase'] },
    { name: 'state', transform: 'uppercase' },
    { name: 'name', transform: 'trim' },
  ],
};
