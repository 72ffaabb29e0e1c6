// The anomaly_detection task kind: each of the last `checkLast` points against a baseline of the same point of
// the season in up to BASELINE_SEASONS earlier seasons (day-of-week for daily data and season 7). The baseline
// is robust, so that an earlier anomaly does not hide the next: expected = median, spread = 1.4826 · MAD (the
// standard deviation of normal data), floored at the Poisson noise √expected for counts (whole numbers) and at
// 5 % of |expected| otherwise, so that a flat history does not turn every wobble into an anomaly.
// z = (value − expected) / spread; a point is anomalous when |z| ≥ sensitivity.

export const BASELINE_SEASONS = 4;
/** A point needs at least this many earlier seasons to be judged. */
export const MIN_BASELINE = 2;

export interface SeriesPoint {
  period: string;
  value: number;
}

export interface Anomaly {
  period: string;
  value: number;
  expected: number;
  z: number;
}

export interface AnomalyCheck {
  /** Points judged (those with enough history). */
  checked: number;
  anomalies: Anomaly[];
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function seasonalAnomalies(points: SeriesPoint[], options: { season: number; sensitivity: number; checkLast: number }): AnomalyCheck {
  const { season, sensitivity, checkLast } = options;
  const counts = points.every((p) => Number.isInteger(p.value));
  const anomalies: Anomaly[] = [];
  let checked = 0;
  for (let i = Math.max(0, points.length - checkLast); i < points.length; i++) {
    const baseline: number[] = [];
    for (let k = 1; k <= BASELINE_SEASONS && i - k * season >= 0; k++) baseline.push((points[i - k * season] as SeriesPoint).value);
    if (baseline.length < MIN_BASELINE) continue;
    checked++;
    const expected = median(baseline);
    const mad = median(baseline.map((b) => Math.abs(b - expected)));
    const floor = counts ? Math.sqrt(Math.max(1, Math.abs(expected))) : 0.05 * Math.abs(expected);
    const spread = Math.max(1.4826 * mad, floor, Number.EPSILON);
    const point = points[i] as SeriesPoint;
    const z = (point.value - expected) / spread;
    if (Math.abs(z) >= sensitivity) anomalies.push({ period: point.period, value: point.value, expected, z: Math.round(z * 100) / 100 });
  }
  return { checked, anomalies };
}
