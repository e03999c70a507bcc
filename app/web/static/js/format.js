// Formatting for people: money from integer minor units and an ISO 4217 currency, percentages,
// and dates and times in UTC (always labelled as such).

const locale = undefined; // the browser's

const fractionDigitsCache = new Map();

/** Minor units per major unit are 10^digits, where digits is the currency's standard
 * number of fraction digits (2 for USD and EUR, 0 for JPY, 3 for KWD). */
export function fractionDigits(currency) {
  if (!fractionDigitsCache.has(currency)) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
        .maximumFractionDigits;
    } catch {
      // An unknown code: show it as a plain number with two decimals.
    }
    fractionDigitsCache.set(currency, digits);
  }
  return fractionDigitsCache.get(currency);
}

export function toMajor(minor, currency) {
  return minor / 10 ** fractionDigits(currency);
}

/** "$1,234.50" from 123450 USD; compact: "$1.2K". */
export function money(minor, currency, { compact = false } = {}) {
  if (minor === null || minor === undefined) return "—";
  const value = toMajor(minor, currency);
  const options = compact
    ? { style: "currency", currency, notation: "compact", maximumFractionDigits: 1 }
    : { style: "currency", currency, maximumFractionDigits: fractionDigits(currency) };
  try {
    return new Intl.NumberFormat(locale, options).format(value);
  } catch {
    return `${value.toFixed(2)} ${currency}`;
  }
}

/** A percentage given as 0-100 (the API's convention): "4.2%"; null: "—". */
export function percent(value, digits = 1) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(locale, {
    style: "percent",
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(value / 100);
}

export function number(value, digits = 0) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value);
}

/** A health score with one decimal: "56.0"; null (no factor had data): "—". */
export function score(value) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(locale, {
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  }).format(value);
}

/** "+3.2" / "−4.0" / "0.0" with a real minus sign; null: "—". */
export function signed(value, digits = 1) {
  if (value === null || value === undefined) return "—";
  const text = Math.abs(value).toFixed(digits);
  if (Number(text) === 0) return text;
  return value > 0 ? `+${text}` : `−${text}`;
}

const dayFormat = new Intl.DateTimeFormat(locale, {
  timeZone: "UTC",
  year: "numeric",
  month: "short",
  day: "numeric",
});
const monthFormat = new Intl.DateTimeFormat(locale, {
  timeZone: "UTC",
  year: "numeric",
  month: "short",
});
const dateTimeFormat = new Intl.DateTimeFormat(locale, {
  timeZone: "UTC",
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});

function toDate(value) {
  if (value instanceof Date) return value;
  // A bare date ("2026-11-01") is a UTC day.
  return new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
}

/** "Nov 1, 2026" (a UTC day, labelled by the caller's column or axis). */
export function day(value) {
  return value ? dayFormat.format(toDate(value)) : "—";
}

/** "Nov 2026" */
export function month(value) {
  return value ? monthFormat.format(toDate(value)) : "—";
}

/** "Nov 1, 2026, 09:30 UTC" */
export function dateTime(value) {
  return value ? `${dateTimeFormat.format(toDate(value))} UTC` : "—";
}

/** ISO 8601 in UTC with a Z: what the API's date-time query parameters take. */
export function isoUTC(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The first instant of the UTC month `offset` months after the one containing `date`. */
export function monthStart(date, offset = 0) {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + offset, 1));
}

export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

export const TIER_LABELS = {
  healthy: "Healthy",
  at_risk: "At risk",
  critical: "Critical",
  unscored: "Unscored",
};

export function tierLabel(tier) {
  return TIER_LABELS[tier ?? "unscored"] ?? tier;
}

export function words(identifier) {
  if (identifier === null || identifier === undefined) return "—";
  const text = String(identifier).replaceAll("_", " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const DAY_MS = 86_400_000;

function every(gap) {
  if (gap === 1) return "daily";
  if (gap === 7) return "weekly";
  return `every ${gap} days`;
}

/**
 * How far apart dated snapshots are, from their UTC days in order: "daily", "weekly",
 * "every 3 days", or "mostly weekly (1 to 7 days apart)" when the gaps differ; null for one.
 */
export function cadence(days) {
  const times = days.map((d) => toDate(d).getTime());
  const gaps = times.slice(1).map((t, i) => Math.round((t - times[i]) / DAY_MS));
  if (!gaps.length) return null;
  const counts = new Map();
  for (const gap of gaps) counts.set(gap, (counts.get(gap) ?? 0) + 1);
  // The most frequent gap; the shorter one on a tie.
  const [common] = [...counts].sort(([a, m], [b, n]) => n - m || a - b)[0];
  const low = Math.min(...gaps);
  const high = Math.max(...gaps);
  return low === high ? every(low) : `mostly ${every(common)} (${low} to ${high} days apart)`;
}
