// The anomaly_detection task kind: each of the last `checkLast` points against a seasonal baseline made of the
// same point of the season (day-of-week for daily data and season 7) in up to BASELINE_SEASONS earlier seasons.
// Each of those values is carried forward by the series' trend: the median season-over-season change
// (y[t] − y[t−season]) over the baseline window, so that a growing series is not flagged for growing. The
// baseline is robust, so that an earlier anomaly does not hide the next: expected = the median of the carried
// values, spread = 1.4826 · the MAD of the window's season-over-season changes (1.4826 · MAD estimates the
// standard deviation of normal data; a change is what a season-ahead prediction gets wrong), floored at the Poisson noise
// √expected for counts (whole numbers) and at 5 % of |expected| otherwise, so that a flat history does not turn
// every wobble into an anomaly. z = (value − expected) / spread; a point is anomalous when |z| ≥ sensitivity.

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

export function seasonalAnomalies(
  points: SeriesPoint[],
  options: { season: number; sensitivity: number; checkLast: number },
): AnomalyCheck {
  const { season, sensitivity, checkLast } = options;
  const y = points.map((p) => p.value);
  const counts = y.every((v) => Number.isInteger(v));
  const anomalies: Anomaly[] = [];
  let checked = 0;
  for (let i = Math.max(0, y.length - checkLast); i < y.length; i++) {
    const seasonsBack = Math.min(BASELINE_SEASONS, Math.floor(i / season));
    if (seasonsBack < MIN_BASELINE) continue;
    checked++;
    // Season-over-season changes inside the baseline window (the point itself excluded).
    const changes: number[] = [];
    for (let t = i - seasonsBack * season + season; t < i; t++) changes.push((y[t] as number) - (y[t - season] as number));
    const growth = changes.length > 0 ? median(changes) : 0;
    const carried: number[] = [];
    for (let k = 1; k <= seasonsBack; k++) carried.push((y[i - k * season] as number) + k * growth);
    const expected = median(carried);
    // The scale of a season-ahead prediction's error, from the window's changes (21 of them for daily data
    // and season 7) rather than from the few carried values alone.
    const mad = changes.length > 1 ? median(changes.map((c) => Math.abs(c - growth))) : median(carried.map((b) => Math.abs(b - expected)));
    const floor = counts ? Math.sqrt(Math.max(1, Math.abs(expected))) : 0.05 * Math.abs(expected);
    const spread = Math.max(1.4826 * mad, floor, Number.EPSILON);
    const z = ((y[i] as number) - expected) / spread;
    if (Math.abs(z) >= sensitivity) {
      anomalies.push({
        period: (points[i] as SeriesPoint).period,
        value: y[i] as number,
        expected: Math.round(expected * 1000) / 1000,
        z: Math.round(z * 100) / 100,
      });
    }
  }
  return { checked, anomalies };
}
