// P4/P5's baseline: a bare Socket.IO server. Every socket joins one room; POST /emit sends the
// request body to that room with io.to(room).emit (P4 posts the service's own message payload).
// Options (env), to measure what each gives:
//   SIO_PER_MESSAGE_DEFLATE=1  compression on (Socket.IO's default is off)
//   SIO_RECOVERY=1             connection state recovery, as the service runs it
//   SIO_WS_ENGINE=eiows        a native WebSocket engine instead of ws (when installed)
//   SIO_REDIS_STREAMS=<url>    the Redis streams adapter, as the service runs it (src/realtime/redis.ts)
// Plain JavaScript run by plain node, like the compiled service (bench/lib/procs.ts).
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const ROOM = 'room';
const options = {
  perMessageDeflate: process.env.SIO_PER_MESSAGE_DEFLATE === '1' ? { threshold: 0 } : false,
  ...(process.env.SIO_RECOVERY === '1'
    ? { connectionStateRecovery: { maxDisconnectionDuration: 120_000, skipMiddlewares: true } }
    : {}),
};
if (process.env.SIO_WS_ENGINE) {
  const engine = await import(process.env.SIO_WS_ENGINE);
  options.wsEngine = engine.Server ?? engine.default?.Server;
}

if (process.env.SIO_REDIS_STREAMS) {
  const { Redis } = await import('ioredis');
  const { createAdapter } = await import('@socket.io/redis-streams-adapter');
  const redis = new Redis(process.env.SIO_REDIS_STREAMS);
  const prefix = `bare-${process.pid}:`;
  options.adapter = createAdapter(redis, {
    streamName: `${prefix}socket.io`,
    channelPrefix: `${prefix}socket.io`,
    sessionKeyPrefix: `${prefix}sio:session:`,
    maxLen: 10_000,
    onlyPlaintext: true,
  });
}

const http = createServer((request, response) => {
  if (request.method !== 'POST' || request.url !== '/emit') {
    response.writeHead(404).end();
    return;
  }
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    const payload = JSON.parse(text);
    io.to(ROOM).emit(process.env.SIO_EVENT ?? 'message-created', payload);
    response.writeHead(201, { 'content-type': 'application/json' }).end(text);
  });
});
const io = new Server(http, options);
io.on('connection', (socket) => {
  socket.join(ROOM);
});
http.listen(Number(process.env.PORT), '127.0.0.1', () => {
  console.log(`bare socket.io listening on http://127.0.0.1:${process.env.PORT} ${JSON.stringify({ ...options, wsEngine: process.env.SIO_WS_ENGINE ?? 'ws' })}`);
});
process.on('SIGTERM', () => {
  io.close();
  process.exit(0);
});
