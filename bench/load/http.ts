// HTTP load generator: autocannon (programmatic API) in its own process on core 1.
// Command `run`: one timed autocannon run; the same settings are used for the service and its
// baseline, round after round.
import autocannon from 'autocannon';
import { serve } from './ipc.js';

export interface HttpRequestSpec {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface HttpRunArgs {
  url: string;
  /** Requests cycled through in order (one is fine). */
  requests: HttpRequestSpec[];
  connections: number;
  seconds: number;
  pipelining?: number;
}

export interface HttpRunResult {
  rps: number;
  total: number;
  ok: number;
  errors: number;
  non2xx: number;
  latency: { p50: number; p90: number; p99: number; mean: number; max: number };
  bytesPerRequest: number;
  clientCpu: number;
}

async function run(args: HttpRunArgs): Promise<HttpRunResult> {
  let i = 0;
  const list = args.requests;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result: any = await autocannon({
    url: args.url,
    connections: args.connections,
    pipelining: args.pipelining ?? 1,
    duration: args.seconds,
    // One request template rewritten per request: cycles through the list across connections.
    requests: [
      {
        setupRequest: (req: any) => {
          const spec = list[i++ % list.length];
          return {
            ...req,
            method: spec.method,
            path: spec.path,
            headers: { ...(spec.body ? { 'content-type': 'application/json' } : {}), ...spec.headers },
            body: spec.body,
          };
        },
      },
    ],
  });
  const elapsed = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const ok = result['2xx'] as number;
  return {
    rps: ok / result.duration,
    total: result.requests.total,
    ok,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    latency: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      mean: result.latency.average,
      max: result.latency.max,
    },
    bytesPerRequest: result.requests.total > 0 ? result.throughput.total / result.requests.total : 0,
    clientCpu: (used.user + used.system) / 1e6 / elapsed,
  };
}

serve({ run });
