// P1's baseline: a bare Fastify route answering a prebuilt JSON body (BODY_FILE: the service's own
// GET /chats answer, so both send the same bytes). No auth, no database, no serialization.
// Plain JavaScript run by plain node, like the compiled service (bench/lib/procs.ts).
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const body = readFileSync(process.env.BODY_FILE, 'utf8');
const app = Fastify({ logger: false });
app.get('/*', (_request, reply) => {
  reply.header('content-type', 'application/json; charset=utf-8').send(body);
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
console.log(`bare fastify listening on http://127.0.0.1:${process.env.PORT} (${Buffer.byteLength(body)} bytes)`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
