/**
 * The named value formats a validate rule can require (`format: email`). Each is a pure
 * predicate; nothing here allocates on the success path except `date`, which has to parse.
 */
import { DateTime, type DateTimeOptions } from 'luxon';

export const formatNames = ['email', 'phone', 'url', 'date'] as const;
export type FormatName = (typeof formatNames)[number];

// A practical subset of RFC 5322 (the "dot-atom" form, as HTML's input[type=email] accepts):
// an unquoted local part of atext characters and single dots, exactly one @, and a domain of at
// least two DNS labels ending in an alphabetic (or punycode) top-level label. No spaces, no
// quoted local parts, no IP-literal domains, no comments.
const EMAIL =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$/;

/** An address such as `ada@example.com`: one @, a dot in the domain, no spaces, at most 254 characters. */
export function isEmail(value: string): boolean {
  if (value.length > 254) return false;
  const at = value.indexOf('@');
  return at > 0 && at <= 64 && EMAIL.test(value);
}

/**
 * A phone number: after removing spaces, dashes, dots, parentheses and one leading `+`,
 * 7 to 15 digits remain (E.164 allows at most 15). Letters, extensions and a `+` after the
 * first digit are rejected.
 */
export function isPhone(value: string): boolean {
  let digits = 0;
  let plus = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      digits++;
      if (digits > 15) return false;
    } else if (c === 43 /* + */) {
      if (plus || digits > 0) return false;
      plus = true;
    } else if (!(c === 32 || c === 9 || c === 45 || c === 46 || c === 40 || c === 41)) {
      // anything but space, tab, -, ., (, )
      return false;
    }
  }
  return digits >= 7;
}

const WHITESPACE = /\s/;

/** An absolute http or https URL that `new URL` accepts, with no whitespace in it. */
export function isUrl(value: string): boolean {
  if (WHITESPACE.test(value)) return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

const YEAR_FIRST = /^\d{4}/;

/**
 * Parses a date or date-time: ISO 8601 (as luxon's `DateTime.fromISO` reads it, starting with a
 * four-digit year, so a bare time such as `10:00` is not a date) or RFC 2822
 * (`Sun, 10 Mar 2024 06:30:00 +0000`). The result may be invalid; check `isValid`.
 * `options.zone` is the zone inputs without an offset are read in, and the zone of the result.
 */
export function parseDate(value: string, options?: DateTimeOptions): DateTime {
  if (YEAR_FIRST.test(value)) {
    const iso = DateTime.fromISO(value, options);
    if (iso.isValid) return iso;
  }
  return DateTime.fromRFC2822(value, options);
}

/** An ISO 8601 date or date-time, or an RFC 2822 date-time. */
export function isDate(value: string): boolean {
  return parseDate(value).isValid;
}

/**
 * The format predicates over a primitive field value, as validate rules apply them: text is
 * checked as is; a number is checked as its decimal text for `phone`, and as epoch milliseconds
 * for `date`; a number is never an email or URL; a boolean matches no format.
 */
export const formats: Readonly<Record<FormatName, (value: string | number | boolean) => boolean>> = {
  email: (value) => typeof value === 'string' && isEmail(value),
  phone: (value) =>
    typeof value === 'string' ? isPhone(value) : typeof value === 'number' && Number.isInteger(value) && value >= 0 && isPhone(String(value)),
  url: (value) => typeof value === 'string' && isUrl(value),
  date: (value) =>
    typeof value === 'string' ? isDate(value) : typeof value === 'number' && Number.isFinite(value) && DateTime.fromMillis(value).isValid,
};

/** How each format is named in a failure message: `"bob@" is not a valid email`. */
export const formatLabels: Readonly<Record<FormatName, string>> = {
  email: 'a valid email',
  phone: 'a valid phone number',
  url: 'a valid http(s) URL',
  date: 'a valid ISO 8601 or RFC 2822 date',
};
