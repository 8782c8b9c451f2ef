import { it } from 'vitest';
import { startApp } from './helpers/app.js';
import { group, image, multipart } from './chats-fixtures.js';
it('probe upload', async () => {
  const t = await startApp({ LOG_LEVEL: 'error' });
  const a = await t.user(); const b = await t.user();
  const doc = await group(t, a, [b]);
  for (let i = 0; i < 3; i++) {
    const upload = multipart({}, { field: 'file', fileName: 'clip.png', contentType: 'image/png', data: await image('png', 16) });
    const r = await t.app.inject({ method: 'POST', url: `/chats/${doc._id}/uploads`, headers: { ...a.auth, ...upload.headers }, payload: upload.payload });
    console.log('STATUS', r.statusCode, r.body);
  }
  await t.close();
}, 200_000);
