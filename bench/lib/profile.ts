// Where the time goes: a V8 .cpuprofile (node --cpu-prof) summed by self time per part (package,
// service folder, V8/Node internals, GC, idle) and per function, as a flame graph's bottom line.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

function partOf(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'V8/native (program)';
  if (!url) return `native: ${fn || '(anonymous)'}`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  const src = /dist\/src\/([^/]+)/.exec(url);
  if (src) return `service: src/${src[1].replace(/\.js$/, '')}`;
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/')[0]}`;
  return path.basename(url);
}

export interface ProfileSummary {
  totalMs: number;
  parts: { part: string; ms: number; share: number }[];
  functions: { fn: string; ms: number; share: number }[];
}

/** `skipMs`: samples in the first milliseconds of the profile (start-up, warm-up) are left out. */
export function summarizeProfile(file: string, top = 15, skipMs = 0): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    startTime: number;
    endTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // A sample's time is the delta to the next sample.
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at < skipMs * 1000) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt);
  }
  const parts = new Map<string, number>();
  const fns = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    const part = partOf(url, functionName);
    parts.set(part, (parts.get(part) ?? 0) + us);
    if (part !== 'idle') busy += us;
    const fn = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*(node_modules|dist)\//, '')}:${lineNumber + 1}` : ''}`.trim();
    if (part !== 'idle') fns.set(fn, (fns.get(fn) ?? 0) + us);
  }
  const share = (us: number) => us / Math.max(busy, 1);
  return {
    totalMs: busy / 1000,
    parts: [...parts]
      .filter(([p]) => p !== 'idle')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([part, us]) => ({ part, ms: us / 1000, share: share(us) })),
    functions: [...fns]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, us]) => ({ fn, ms: us / 1000, share: share(us) })),
  };
}

export function newestProfile(dir: string): string | null {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  return files.length > 0 ? path.join(dir, files[files.length - 1]) : null;
}

export function profileMarkdown(summary: ProfileSummary): string {
  const lines = [`Busy CPU in the profile: ${summary.totalMs.toFixed(0)} ms (idle excluded). Self time by part:`, ''];
  lines.push('| part | ms | share |', '| --- | --- | --- |');
  for (const p of summary.parts) lines.push(`| ${p.part} | ${p.ms.toFixed(0)} | ${(p.share * 100).toFixed(1)}% |`);
  lines.push('', 'Top functions by self time:', '', '| function | ms | share |', '| --- | --- | --- |');
  for (const f of summary.functions) lines.push(`| \`${f.fn.replace(/\|/g, '\\|')}\` | ${f.ms.toFixed(0)} | ${(f.share * 100).toFixed(1)}% |`);
  return lines.join('\n');
}
