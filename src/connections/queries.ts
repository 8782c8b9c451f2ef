import { one, sql, type Db } from '../db/client.js';
import { AppError, isForeignKeyViolation, isUniqueViolation } from '../shared/errors.js';

export type ConnectionStatus = 'pending' | 'accepted' | 'rejected';

/** A meet-me connection as the API shows it (supporting-api.md "Meet-me connections"). */
export interface Connection {
  _id: string;
  requester: string;
  user: string;
  status: ConnectionStatus;
  createdAt: string;
}

const connectionColumns = sql`id as "_id", requester_id as "requester", user_id as "user", status,
  iso(created_at) as "createdAt"`;

/** The pending or accepted connection between two users, whichever side asked. */
export function liveConnectionBetween(db: Db, a: string, b: string): Promise<Connection | undefined> {
  const [low, high] = a < b ? [a, b] : [b, a];
  // Same expressions as the unique index connections_live_pair_key, so this is one index probe.
  return one<Connection>(
    db,
    sql`select ${connectionColumns} from connections
        where least(requester_id, user_id) = ${low} and greatest(requester_id, user_id) = ${high}
          and status in ('pending', 'accepted')`,
  );
}

export async function insertConnection(
  db: Db,
  connection: { id: string; requesterId: string; userId: string },
): Promise<Connection> {
  try {
    return (await one<Connection>(
      db,
      sql`insert into connections (id, requester_id, user_id)
          values (${connection.id}, ${connection.requesterId}, ${connection.userId})
          returning ${connectionColumns}`,
    ))!;
  } catch (error) {
    // A concurrent request for the same pair got in first (connections_live_pair_key).
    if (isUniqueViolation(error)) {
      throw new AppError('CONNECTION_EXISTS', 'A pending or accepted connection with this user already exists');
    }
    if (isForeignKeyViolation(error)) throw new AppError('USER_NOT_FOUND', 'No such user');
    throw error;
  }
}

/** Locks the row, so two answers to one connection cannot both apply. */
export function findConnectionForUpdate(db: Db, id: string): Promise<Connection | undefined> {
  return one<Connection>(db, sql`select ${connectionColumns} from connections where id = ${id} for update`);
}

export async function setConnectionStatus(db: Db, id: string, status: ConnectionStatus): Promise<Connection> {
  return (await one<Connection>(
    db,
    sql`update connections set status = ${status}, updated_at = now() where id = ${id}
        returning ${connectionColumns}`,
  ))!;
}
