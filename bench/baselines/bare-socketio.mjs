// P4/P5's baseline: a bare Socket.IO server. Every socket joins one room; POST /emit sends the
// request body to that room with io.to(room).emit (P4 posts the service's own message payload).
// Options (env), to measure what each gives:
//   SIO_PER_MESSAGE_DEFLATE=1  compression on (Socket.IO's default is off)
//   SIO_RECOVERY=1             connection state recovery, as the service runs it
//   SIO_WS_ENGINE=eiows        a native WebSocket engine instead of ws (when installed)
//   SIO_REDIS_STREAMS=<url>    the Redis streams adapter, as the service runs it (src/realtime/redis.ts)
//   SIO_DIRECT_WRITE=1         the floor of any socket layer: the WebSocket frame of the packet built
//                              once and written straight to each member's TCP socket, one write()
//                              each, past Socket.IO, Engine.IO and ws (no queueing, no recovery)
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

/** An unmasked, final WebSocket text frame (RFC 6455 5.2), as a server sends it. */
function textFrame(text) {
  const data = Buffer.from(text);
  const n = data.length;
  const header = Buffer.alloc(n < 126 ? 2 : n < 65536 ? 4 : 10);
  header[0] = 0x81; // FIN, text
  if (n < 126) {
    header[1] = n;
  } else if (n < 65536) {
    header[1] = 126;
    header.writeUInt16BE(n, 2);
  } else {
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([header, data]);
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
    const event = process.env.SIO_EVENT ?? 'message-created';
    if (process.env.SIO_DIRECT_WRITE === '1') {
      const frame = textFrame(`42${JSON.stringify([event, payload])}`);
      for (const id of io.sockets.adapter.rooms.get(ROOM) ?? []) {
        io.sockets.sockets.get(id)?.conn.transport.socket._socket.write(frame);
      }
    } else {
      io.to(ROOM).emit(event, payload);
    }
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
