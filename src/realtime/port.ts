// The realtime port: reach every socket of some users (on every node), and know who is online.
export interface NotifyOptions {
  /**
   * The socket that made the request, as its viewerSocketRoom (src/realtime/server.ts): it does
   * not get the event (rulings.md 7).
   */
  exceptSocket?: string;
}

export interface Realtime {
  notify(userIds: string[], event: string, payload: unknown, options?: NotifyOptions): void;
  /** The subset of these users with at least one connected socket on any node. */
  onlineUsers(userIds: string[]): Promise<Set<string>>;
  /** onlineUsers from memory, or null when this node cannot answer without a round trip. */
  onlineUsersNow(userIds: string[]): Set<string> | null;
}

/** Per-user socket counts; the local one lives in memory, the Redis one spans nodes. */
export interface Presence {
  /** Returns true when this made the user go online (first socket anywhere). */
  connect(userId: string, socketId: string): Promise<boolean>;
  /** Returns true when this made the user go offline (last socket anywhere). */
  disconnect(userId: string, socketId: string): Promise<boolean>;
  online(userIds: string[]): Promise<Set<string>>;
  /** online() when it can be answered from memory, else null. */
  onlineNow(userIds: string[]): Set<string> | null;
  /**
   * Transitions the presence finds by itself, not through connect/disconnect on this node: the
   * users of a dead node going offline, this node's users coming back after Redis lost them.
   */
  onTransition?(listener: PresenceListener): void;
  close(): Promise<void>;
}

export type PresenceListener = (userIds: string[], isOnline: boolean) => void;
