// What the scenarios share: seeded ids and tokens, HTTP helpers, ratios, the optional profile run.
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Context, RoundResult } from '../lib/context.js';
import { newestProfile, profileMarkdown, summarizeProfile } from '../lib/profile.js';
import { outDir, startService, type Server } from '../lib/procs.js';
import { cpuSecondsOf, treeCpuSeconds } from '../lib/machine.js';
import { spread, type Spread } from '../lib/stats.js';
import { layout } from '../scale.js';
import { benchId, KIND } from '../seed.js';
import { signToken } from '../lib/tokens.js';

export const userId = (n: number) => benchId(KIND.user, n);
export const groupId = (g: number) => benchId(KIND.group, g);
export const oneToOneId = (k: number) => benchId(KIND.oneToOne, k);

export async function heavyAndLight(ctx: Context) {
  const l = layout(ctx.scale);
  const heavy = userId(l.heavyUser);
  const light = userId(l.lightUser);
  return {
    heavy: { id: heavy, auth: { authorization: `Bearer ${await signToken(heavy)}` } },
    light: { id: light, auth: { authorization: `Bearer ${await signToken(light)}` } },
  };
}

export async function request(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<{ status: number; text: string; json: any }> {
  const response = await fetch(url + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, text, json };
}

/** Per-round ratio a / b of a figure, with its median and spread. */
export function ratios<T>(rounds: RoundResult<T>[], a: string, b: string, figure: (v: T) => number): { values: number[]; spread: Spread } {
  const values = rounds.map((r) => figure(r.values[a]) / figure(r.values[b]));
  return { values, spread: spread(values) };
}

export function figures<T>(rounds: RoundResult<T>[], side: string, figure: (v: T) => number): Spread {
  return spread(rounds.map((r) => figure(r.values[side])));
}

export const verdict = (ok: boolean) => (ok ? '**met**' : '**missed**');

/**
 * BENCH_PROFILE=1: runs `load` once more against a service started with --cpu-prof and returns
 * where its CPU time went (bench/out/profiles/<name>/).
 */
export async function profileRun(
  ctx: Context,
  name: string,
  load: (service: Server, measured: () => void) => Promise<void>,
  env: Record<string, string> = {},
): Promise<string | null> {
  if (process.env.BENCH_PROFILE !== '1') return null;
  const dir = path.join(outDir, 'profiles', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  const service = await startService(ctx, { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`], env, name: `${name}-profiled` });
  // Start-up and warm-up are left out of the summary: `measured()` marks where the load starts.
  let skipMs = performance.now() - started;
  try {
    await load(service, () => (skipMs = performance.now() - started));
  } finally {
    await service.stop();
  }
  const file = newestProfile(dir);
  if (!file) return null;
  ctx.log(`${name}: profile ${path.relative(process.cwd(), file)}`);
  return (
    `Profile of the service under this load (\`node --cpu-prof\`, start-up and warm-up left out; ${path.relative(process.cwd(), file)}):\n\n` +
    profileMarkdown(summarizeProfile(file, 15, skipMs))
  );
}

/** A line naming the rounds that other processes disturbed (kept when no redo was left). */
export function disturbances<T>(rounds: RoundResult<T>[]): string {
  const redone = rounds.reduce((n, r) => n + r.redone, 0);
  const kept = rounds.filter((r) => r.disturbed).map((r) => `round ${r.round} (${r.disturbed})`);
  const maxOthers = Math.max(0, ...rounds.flatMap((r) => Object.values(r.others)));
  return `- other processes: at most ${maxOthers.toFixed(2)} cores during a measurement; rounds redone: ${redone}${kept.length ? `; disturbed but kept: ${kept.join('; ')}` : ''}`;
}

export interface CpuSplit {
  service: number;
  postgres: number;
  redis: number;
}

/** CPU seconds the service, PostgreSQL and Redis used while `work` ran. */
export async function cpuSplit<T>(ctx: Context, servicePid: number, work: () => Promise<T>): Promise<{ result: T; cpu: CpuSplit }> {
  const read = () => ({
    service: cpuSecondsOf(servicePid),
    postgres: treeCpuSeconds(ctx.pgPid),
    redis: ctx.redisPid ? cpuSecondsOf(ctx.redisPid) : 0,
  });
  const before = read();
  const result = await work();
  const after = read();
  return {
    result,
    cpu: { service: after.service - before.service, postgres: after.postgres - before.postgres, redis: after.redis - before.redis },
  };
}

/** "service 1.20 ms, PostgreSQL 6.10 ms, Redis 0.10 ms" of CPU per request. */
export function cpuPerRequest(cpu: CpuSplit, requests: number): string {
  const ms = (s: number) => ((s * 1000) / Math.max(requests, 1)).toFixed(2);
  return `service ${ms(cpu.service)} ms, PostgreSQL ${ms(cpu.postgres)} ms, Redis ${ms(cpu.redis)} ms`;
}
