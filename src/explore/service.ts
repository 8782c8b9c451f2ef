// GET /chats/explore/communities (chats-api.txt, rulings.md 16-18).
import type { Deps } from '../shared/deps.js';
import { AppError } from '../shared/errors.js';
import * as q from './queries.js';

export interface ExploreInput {
  search: string;
  category?: string;
  limit: number;
  page: number;
  reelsLimit: number;
}

/** rulings.md 16: `search` is required, at least 3 characters after trimming. */
const SEARCH_MIN = 3;

/** The page of trending communities in one SQL round trip (no query per chat, no presence). */
export async function exploreCommunities(
  deps: Deps,
  viewerId: string,
  input: ExploreInput,
): Promise<{ chats: q.CommunityRow[]; count: number }> {
  const search = input.search.trim();
  if ([...search].length < SEARCH_MIN) {
    throw new AppError('VALIDATION_FAILED', `search must be at least ${SEARCH_MIN} characters`, { field: 'search' });
  }
  return q.explore(deps.database.db, viewerId, { ...input, search }, deps.config.trending, deps.config.limits.unreadCap);
}
