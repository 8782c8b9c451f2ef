// How much data and load each benchmark size means. `full` is the scale; `small` is for
// building and debugging the harness on a machine shared with others (same shapes, less of them).

export interface Scale {
  name: 'small' | 'full';
  /** Crowd users (the heavy and the light user come on top). */
  users: number;
  /** Group chats: what explore searches. */
  groups: number;
  /** Chats of the heavy user: half groups, half one-to-one (P1, P2). */
  heavyChats: number;
  /** Chats of the light user (P2's baseline). */
  lightChats: number;
  messages: number;
  reelsPerGroup: number;
  /** Members of the fan-out group, each with one socket (P4). */
  fanout: number;
  /** Idle authenticated sockets (P5). */
  sockets: number;
  /** Simulated app users the capacity ramp may reach (P6). */
  maxSimUsers: number;
}

export const SCALES: Record<Scale['name'], Scale> = {
  full: {
    name: 'full',
    users: 20_000,
    groups: 100_000,
    heavyChats: 10_000,
    lightChats: 100,
    messages: 1_200_000,
    reelsPerGroup: 2,
    fanout: 1_000,
    sockets: 10_000,
    maxSimUsers: 12_000,
  },
  small: {
    name: 'small',
    users: 2_000,
    groups: 1_000,
    heavyChats: 500,
    lightChats: 100,
    messages: 50_000,
    reelsPerGroup: 2,
    fanout: 100,
    sockets: 100,
    maxSimUsers: 300,
  },
};

export function scaleFromEnv(env: NodeJS.ProcessEnv = process.env): Scale {
  const name = env.BENCH_SCALE ?? 'full';
  if (name !== 'small' && name !== 'full') throw new Error(`BENCH_SCALE must be small or full, got "${name}"`);
  return SCALES[name];
}

/** Which seeded rows are whose: the one formula the seed and the load generators share. */
export function layout(scale: Scale) {
  const heavyGroups = scale.heavyChats / 2;
  const lightGroups = scale.lightChats / 2;
  return {
    heavyUser: scale.users + 1,
    lightUser: scale.users + 2,
    /** The heavy user is in group g when g % heavyStep = 0. */
    heavyStep: scale.groups / heavyGroups,
    /** The light user is in group g when g % lightStep = 1. */
    lightStep: scale.groups / lightGroups,
    heavyOneToOne: scale.heavyChats - heavyGroups,
    lightOneToOne: scale.lightChats - lightGroups,
    /** Group g's members are crowd users ((g + j * stride) % users) + 1, j = 0..4 (j = 0 admin). */
    stride: Math.floor(scale.users / 5) + 1,
    /** The fan-out group is group number groups + 1; its members are crowd users 1..fanout. */
    fanoutGroup: scale.groups + 1,
  };
}
