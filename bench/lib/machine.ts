// The machine: what it is, and whether anything but the benchmark is using its CPU
// (shared/BENCHMARKING.md: wait for a quiet machine; redo a round another process disturbed).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export function machineInfo() {
  const sh = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    } catch {
      return 'n/a';
    }
  };
  return {
    date: new Date().toISOString(),
    nproc: Number(sh('nproc', [])),
    cpu: os.cpus()[0]?.model ?? 'n/a',
    memory: sh('free', ['-g']),
    node: process.version,
    kernel: os.release(),
    postgres: sh('/usr/lib/postgresql/15/bin/postgres', ['--version']),
    redis: sh('redis-server', ['--version']).split(' ').slice(0, 3).join(' '),
    loadavg: os.loadavg().map((v) => v.toFixed(2)).join(' '),
  };
}

interface ProcTimes {
  /** pid -> [ppid, cpu ticks, command] */
  procs: Map<number, [number, number, string]>;
  at: number;
}

function snapshot(): ProcTimes {
  const procs = new Map<number, [number, number, string]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const command = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      // fields[0] is state (field 3); ppid is field 4, utime 14, stime 15
      procs.set(Number(name), [Number(fields[1]), Number(fields[11]) + Number(fields[12]), command]);
    } catch {
      // the process ended meanwhile
    }
  }
  return { procs, at: performance.now() };
}

/**
 * Whose CPU counts as the benchmark's own: these roots and every descendant of them (the
 * orchestrator's children, the PostgreSQL postmaster's backends, Redis).
 */
export class CpuWatch {
  constructor(private readonly roots: () => number[]) {}

  private ours(s: ProcTimes): Set<number> {
    const mine = new Set<number>(this.roots());
    let grew = true;
    while (grew) {
      grew = false;
      for (const [pid, [ppid]] of s.procs) {
        if (!mine.has(pid) && mine.has(ppid)) {
          mine.add(pid);
          grew = true;
        }
      }
    }
    return mine;
  }

  start() {
    const before = snapshot();
    return {
      /** CPU used by other processes since start(), in cores, and the busiest of them. */
      stop: (): { cores: number; top: string } => {
        const after = snapshot();
        const mine = this.ours(after);
        const seconds = (after.at - before.at) / 1000;
        let ticks = 0;
        const users: [string, number][] = [];
        for (const [pid, [, t, command]] of after.procs) {
          if (mine.has(pid)) continue;
          const used = t - (before.procs.get(pid)?.[1] ?? t);
          if (used > 0) {
            ticks += used;
            users.push([`${command}(${pid})`, used]);
          }
        }
        users.sort((a, b) => b[1] - a[1]);
        const top = users
          .slice(0, 3)
          .map(([c, t]) => `${c} ${((t / TICKS_PER_SECOND / seconds) * 100).toFixed(0)}%`)
          .join(', ');
        return { cores: ticks / TICKS_PER_SECOND / Math.max(seconds, 0.001), top };
      },
    };
  }

  /**
   * Waits until other processes use less than `threshold` of a core over a 1 s window, at most
   * `maxMs`. Returns how long it waited and what the last window showed.
   */
  async waitQuiet(maxMs: number, threshold = 0.1): Promise<{ waitedMs: number; cores: number; top: string; quiet: boolean }> {
    const started = Date.now();
    for (;;) {
      const window = this.start();
      await new Promise((r) => setTimeout(r, 1000));
      const seen = window.stop();
      const waitedMs = Date.now() - started;
      if (seen.cores < threshold) return { waitedMs, ...seen, quiet: true };
      if (waitedMs >= maxMs) return { waitedMs, ...seen, quiet: false };
    }
  }
}

/** Resident set size of a process in bytes (VmRSS). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return match ? Number(match[1]) * 1024 : NaN;
}

/** CPU seconds a process (not its children) used so far. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** The pid of a process whose command line contains `needle` (e.g. redis-server's port). */
export function findPid(needle: string): number | null {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle)) return Number(name);
    } catch {
      // gone
    }
  }
  return null;
}

/**
 * CPU seconds used so far by a process and all its descendants (PostgreSQL's backends), including
 * descendants that have exited and been reaped (cutime/cstime): a backend whose client
 * disconnected before the second reading (P3's direct baseline, a fresh process per round) still
 * counts.
 */
export function treeCpuSeconds(root: number): number {
  const procs = processTable();
  let ticks = 0;
  for (const pid of treeOf(procs, root)) ticks += procs.get(pid)?.ticks ?? 0;
  return ticks / TICKS_PER_SECOND;
}

/** A process and its descendants alive now (the postmaster: every PostgreSQL process). */
export function processTree(root: number): number[] {
  return [...treeOf(processTable(), root)];
}

/** Every process in /proc: its parent and its CPU ticks so far, its reaped children's included. */
function processTable(): Map<number, { ppid: number; ticks: number }> {
  const procs = new Map<number, { ppid: number; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(name), {
        ppid: Number(fields[1]),
        ticks: Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]),
      });
    } catch {
      // gone
    }
  }
  return procs;
}

function treeOf(procs: Map<number, { ppid: number }>, root: number): Set<number> {
  const tree = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, p] of procs) {
      if (!tree.has(pid) && tree.has(p.ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return tree;
}

/**
 * How fast this VM is right now: milliseconds to SHA-256 64 MB on one core (lower is faster). The
 * machines are shared: the same statement ran 1.8× slower at one hour than at another, and a
 * section's figures are read against this.
 */
export function cpuReferenceMs(): number {
  const block = Buffer.alloc(16 * 1024 * 1024, 7);
  const started = performance.now();
  for (let i = 0; i < 4; i++) createHash('sha256').update(block).digest();
  return performance.now() - started;
}

/** Ticks of all CPUs so far, and those stolen by the hypervisor (/proc/stat). */
export function cpuTicks(): { total: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is in user already.
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, steal: values[7] ?? 0 };
}
