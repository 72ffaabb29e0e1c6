import fs from 'node:fs';
import path from 'node:path';

// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per place (our src/ folders,
// each package under node_modules, node's internals, GC), over a window of the profile.

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Samples in the window that were not idle, and what share of the window they are. */
  busyMs: number;
  windowMs: number;
  top: { function: string; where: string; selfPct: number }[];
  byPlace: { place: string; selfPct: number }[];
}

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Where a function lives: `src/mcp/endpoint.ts`, `node_modules/koa`, `node:internal/...`, or a V8 pseudo-node. */
function place(url: string, functionName: string): { file: string; bucket: string } {
  if (!url) return { file: functionName, bucket: functionName.startsWith('(') ? functionName : '(native)' };
  let file = url.startsWith('file://') ? decodeURIComponent(url.slice(7)) : url;
  if (file.startsWith(ROOT)) file = path.relative(ROOT, file);
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (modules?.[1]) return { file: `${modules[1]}/${file.split(modules[1] + '/').pop() ?? ''}`, bucket: modules[1] };
  if (file.startsWith('src/')) return { file, bucket: file.split('/').slice(0, 2).join('/') };
  if (file.startsWith('node:')) return { file, bucket: file.startsWith('node:internal/deps/undici') ? 'node:undici' : 'node:internals' };
  return { file, bucket: file };
}

/**
 * Self time in the window [fromMs, toMs] counted back from the profile's end (the process's exit):
 * `fromEndMs` and `toEndMs` are how long before the end the window starts and stops.
 */
export function summarizeProfile(file: string, window: { fromEndMs: number; toEndMs: number }, topN = 12): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const from = profile.endTime - window.fromEndMs * 1000;
  const to = profile.endTime - window.toEndMs * 1000;
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let windowUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < from || t > to) continue;
    const id = profile.samples[i] as number;
    // A sample stands for the time until the next one.
    const span = profile.timeDeltas[i + 1] ?? delta;
    selfUs.set(id, (selfUs.get(id) ?? 0) + span);
    windowUs += span;
  }
  const functions = new Map<string, { where: string; us: number; name: string }>();
  const places = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') continue;
    busyUs += us;
    const where = place(url, functionName || '(anonymous)');
    const name = functionName || '(anonymous)';
    const key = `${name} ${where.file}:${lineNumber + 1}`;
    const entry = functions.get(key) ?? { name, where: `${where.file}:${lineNumber + 1}`, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    places.set(where.bucket, (places.get(where.bucket) ?? 0) + us);
  }
  const pct = (us: number) => Math.round((us / Math.max(busyUs, 1)) * 1000) / 10;
  return {
    busyMs: Math.round(busyUs / 1000),
    windowMs: Math.round(windowUs / 1000),
    top: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((f) => ({ function: f.name, where: f.where, selfPct: pct(f.us) })),
    byPlace: [...places.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([p, us]) => ({ place: p, selfPct: pct(us) })),
  };
}
