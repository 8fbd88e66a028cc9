import { ladingError, type LadingError } from '../errors/lading-error.js';

/** The fenced write's refusal, worded alike by both stores; the token's head names the lease without spelling all of it. */
export const leaseLost = (doing: string, token: string): LadingError =>
  ladingError('STORE_LEASE_LOST', `${doing}: lease ${token.slice(0, 8)}… is no longer held (it expired and another worker took it over, or the job ended)`);
