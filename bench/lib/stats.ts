// Small statistics for rounds: the median and spread of per-round ratios, percentiles of samples.

export function sorted(values: number[]): number[] {
  return [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
}

/** Linear-interpolated percentile (p in 0..100) of the values. */
export function percentile(values: number[], p: number): number {
  const s = sorted(values);
  if (s.length === 0) return NaN;
  if (s.length === 1) return s[0];
  const rank = (p / 100) * (s.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return s[low] + (s[high] - s[low]) * (rank - low);
}

export const median = (values: number[]) => percentile(values, 50);

export function mean(values: number[]): number {
  const s = sorted(values);
  return s.length === 0 ? NaN : s.reduce((a, b) => a + b, 0) / s.length;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Interquartile range: where the middle half of the rounds fell. */
  p25: number;
  p75: number;
  n: number;
}

export function spread(values: number[]): Spread {
  const s = sorted(values);
  return {
    median: percentile(s, 50),
    min: s[0] ?? NaN,
    max: s[s.length - 1] ?? NaN,
    p25: percentile(s, 25),
    p75: percentile(s, 75),
    n: s.length,
  };
}

export function fmt(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(digits);
}

export function fmtSpread(s: Spread, digits = 2): string {
  return `${fmt(s.median, digits)} (min ${fmt(s.min, digits)}, IQR ${fmt(s.p25, digits)}–${fmt(s.p75, digits)}, max ${fmt(s.max, digits)}, ${s.n} rounds)`;
}
