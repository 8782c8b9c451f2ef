// Results: the raw numbers of a scenario go to bench/out/<id>-<time>.json (kept out of git), and
// its generated section of bench/RESULTS.md (between <!-- BEGIN id --> and <!-- END id -->) is
// replaced; the notes written by hand around those sections stay.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Context } from './context.js';
import { benchDir, outDir } from './procs.js';

export const RESULTS_FILE = path.join(benchDir, 'RESULTS.md');

export interface Report {
  id: string;
  title: string;
  /** Generated markdown: the figures, their baselines and ratios. */
  markdown: string;
  raw: unknown;
}

export function machineMarkdown(ctx: Context): string {
  const m = ctx.machine;
  return [
    `- date: ${m.date}; scale: ${ctx.scale.name}; ${ctx.rounds} rounds of ${ctx.roundSeconds} s`,
    `- machine: ${m.nproc} cores (${m.cpu}), kernel ${m.kernel}, load average at start ${m.loadavg}`,
    `- memory (\`free -g\`): ${m.memory.split('\n')[1]?.replace(/\s+/g, ' ') ?? m.memory}`,
    `- node ${m.node}, ${m.postgres}, ${m.redis}`,
    `- seed: ${JSON.stringify(ctx.seed.counts)}`,
    `- pinning: service and baselines \`taskset -c 0\`, load generators \`taskset -c 1\`; PostgreSQL and Redis ` +
      (ctx.databaseCpus
        ? `\`taskset -c ${ctx.databaseCpus}\` (the server side shares its core; the load generator has its own)`
        : 'unpinned (both cores)'),
    ...(ctx.vm
      ? [
          `- VM: CPU reference ${ctx.vm.referenceMs.toFixed(0)} ms before the scenario (SHA-256 of 64 MB on one core; lower is faster)` +
            (ctx.vm.stealShare === null ? '' : `, CPU stolen by the hypervisor during it ${(ctx.vm.stealShare * 100).toFixed(1)}%`),
        ]
      : []),
  ].join('\n');
}

function replaceSection(text: string, id: string, body: string, heading: string): string {
  const begin = `<!-- BEGIN ${id} -->`;
  const end = `<!-- END ${id} -->`;
  const block = `${begin}\n${body.trim()}\n${end}`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from >= 0 && to > from) return text.slice(0, from) + block + text.slice(to + end.length);
  return `${text.trimEnd()}\n\n## ${heading}\n\n${block}\n`;
}

export function writeReport(ctx: Context, report: Report): void {
  const stamp = ctx.machine.date.replace(/[:.]/g, '-');
  const raw = { id: report.id, scale: ctx.scale, machine: ctx.machine, seed: ctx.seed, raw: report.raw };
  writeFileSync(path.join(outDir, `${report.id}-${stamp}.json`), JSON.stringify(raw, null, 2));
  writeFileSync(path.join(outDir, `${report.id}-latest.json`), JSON.stringify(raw, null, 2));
  const body = `_Measured ${ctx.machine.date} (${ctx.scale.name} scale)._\n\n${machineMarkdown(ctx)}\n\n${report.markdown}`;
  // Small-scale runs (debugging the harness) never overwrite the real figures.
  const file = ctx.scale.name === 'full' ? RESULTS_FILE : path.join(outDir, 'RESULTS-small.md');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  writeFileSync(file, replaceSection(text, report.id, body, report.title));
  ctx.log(`${report.id}: written to ${path.relative(process.cwd(), file)} and bench/out/${report.id}-latest.json`);
}

export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
