// Forces a full GC in another Node process through its inspector (started with --inspect), so
// the benchmark reads its memory after GC without changing the process (P5).
import WebSocket from 'ws';

function call(url: string, commands: { method: string; params?: unknown }[]): Promise<any[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const results: any[] = [];
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ id: 0, ...commands[0] })));
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString());
      if (msg.id === undefined) return; // an event, not an answer
      if (msg.error) {
        ws.close();
        reject(new Error(JSON.stringify(msg.error)));
        return;
      }
      results.push(msg.result);
      if (results.length === commands.length) {
        ws.close();
        resolve(results);
      } else {
        ws.send(JSON.stringify({ id: results.length, ...commands[results.length] }));
      }
    });
  });
}

/** Two full GCs, then the process's own view of its memory. */
export async function gcAndMemory(inspectorUrl: string): Promise<NodeJS.MemoryUsage> {
  const results = await call(inspectorUrl, [
    { method: 'HeapProfiler.collectGarbage' },
    { method: 'HeapProfiler.collectGarbage' },
    { method: 'Runtime.evaluate', params: { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true } },
  ]);
  return JSON.parse(results[2].result.value);
}
