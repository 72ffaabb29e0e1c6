// Additive Holt-Winters (triple exponential smoothing) for the forecast task kind: level, trend and a season of
// `season` periods, smoothed by alpha, beta and gamma, which are chosen by a grid search minimising the
// one-step-ahead squared error over the series. The prediction interval is that of the equivalent ETS(A,A,A)
// model (Hyndman et al., "Forecasting with Exponential Smoothing", 2008, table 6.1): the h-step variance is
// sigma² · (1 + Σ_{j<h} c_j²), c_j = alpha·(1 + j·beta) + (1 − alpha)·gamma·[j mod season = 0]. Pure and small
// on purpose: series of a few hundred points fit in about a millisecond.

export interface ForecastPoint {
  /** 1 = the period after the last one given. */
  step: number;
  value: number;
  lower: number;
  upper: number;
}

export interface HoltWintersResult {
  alpha: number;
  beta: number;
  gamma: number;
  /** Standard deviation of the one-step-ahead errors. */
  sigma: number;
  forecast: ForecastPoint[];
}

const ALPHAS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const BETAS = [0, 0.01, 0.05, 0.1, 0.2, 0.3];
const GAMMAS = [0, 0.05, 0.1, 0.2, 0.3, 0.5];
/** 95 % two-sided. */
export const INTERVAL_Z = 1.96;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

interface State {
  level: number;
  trend: number;
  seasonal: number[];
  sse: number;
  errors: number;
}

/** Runs the smoothing over `y`; errors count from the second season on (the first one initialises). */
function smooth(y: number[], m: number, alpha: number, beta: number, gamma: number): State {
  let level = mean(y.slice(0, m));
  let trend = (mean(y.slice(m, 2 * m)) - level) / m;
  const seasonal = y.slice(0, m).map((v) => v - level);
  let sse = 0;
  let errors = 0;
  for (let t = 0; t < y.length; t++) {
    const value = y[t] as number;
    const s = seasonal[t % m] as number;
    const predicted = level + trend + s;
    if (t >= m) {
      sse += (value - predicted) ** 2;
      errors++;
    }
    const nextLevel = alpha * (value - s) + (1 - alpha) * (level + trend);
    trend = beta * (nextLevel - level) + (1 - beta) * trend;
    seasonal[t % m] = gamma * (value - nextLevel) + (1 - gamma) * s;
    level = nextLevel;
  }
  return { level, trend, seasonal, sse, errors };
}

/** Fits and forecasts `horizon` periods; needs at least two full seasons of values. */
export function holtWinters(y: number[], season: number, horizon: number): HoltWintersResult {
  const m = season;
  if (y.length < 2 * m + 1)
    throw new RangeError(`a forecast with season ${m} needs at least ${2 * m + 1} periods; the data has ${y.length}`);
  let best: { alpha: number; beta: number; gamma: number; state: State } | undefined;
  for (const alpha of ALPHAS)
    for (const beta of BETAS)
      for (const gamma of m > 1 ? GAMMAS : [0]) {
        const state = smooth(y, m, alpha, beta, gamma);
        if (!best || state.sse < best.state.sse) best = { alpha, beta, gamma, state };
      }
  const { alpha, beta, gamma, state } = best!;
  // Three smoothing parameters were estimated.
  const sigma = Math.sqrt(state.sse / Math.max(1, state.errors - 3));
  const n = y.length;
  let spread = 0;
  const forecast: ForecastPoint[] = [];
  for (let h = 1; h <= horizon; h++) {
    const j = h - 1;
    if (j > 0) spread += (alpha * (1 + j * beta) + (j % m === 0 ? (1 - alpha) * gamma : 0)) ** 2;
    const value = state.level + h * state.trend + (state.seasonal[(n + h - 1) % m] as number);
    const half = INTERVAL_Z * sigma * Math.sqrt(1 + spread);
    forecast.push({ step: h, value, lower: value - half, upper: value + half });
  }
  return { alpha, beta, gamma, sigma, forecast };
}
