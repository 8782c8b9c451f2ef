// The load generator's side of the IPC channel: commands in, results (or an error) out.
type Handler = (args: any) => Promise<unknown> | unknown;

export function serve(handlers: Record<string, Handler>): void {
  if (!process.send) throw new Error('a load generator runs as a child of bench/run.ts (IPC channel)');
  process.on('message', async (msg: { id: number; cmd: string; args: unknown }) => {
    try {
      const handler = handlers[msg.cmd];
      if (!handler) throw new Error(`unknown command ${msg.cmd}`);
      const result = await handler(msg.args);
      process.send!({ id: msg.id, result });
    } catch (error) {
      process.send!({ id: msg.id, error: (error as Error).stack ?? String(error) });
    }
  });
  // The orchestrator going away ends the generator too (no orphan holding sockets).
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}
