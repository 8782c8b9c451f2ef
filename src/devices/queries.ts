import { sql, type Db } from '../db/client.js';

export type Platform = 'android' | 'ios' | 'web';

/** A token belongs to one device, so it moves to the user who registered it last. */
export async function upsertDevice(db: Db, device: { token: string; userId: string; platform: Platform }): Promise<void> {
  await db.execute(sql`insert into devices (token, user_id, platform)
    values (${device.token}, ${device.userId}, ${device.platform})
    on conflict (token) do update set user_id = excluded.user_id, platform = excluded.platform, updated_at = now()`);
}

/** Removes the token only when it is the user's own; someone else's token is left alone. */
export async function deleteDevice(db: Db, token: string, userId: string): Promise<void> {
  await db.execute(sql`delete from devices where token = ${token} and user_id = ${userId}`);
}
