// How a reel is shown: POST /reels answers it and explore lists it (chats-api.txt explore example,
// rulings.md 18). Built in SQL by reelJson (./queries.ts).
import { Type, type Static } from '@sinclair/typebox';
import { DateTime, Id, Nullable, UserBrief } from '../shared/schemas.js';

/** rulings.md 18: the reel's author with isFollowed (the viewer follows them). */
export const ReelUser = Type.Object({ ...UserBrief.properties, isFollowed: Type.Boolean() });

export const Reel = Type.Object({
  _id: Id,
  /** rulings.md 18: null for an anonymous reel. */
  user: Nullable(ReelUser),
  /** The chat the reel was posted to; null for a reel of no chat (or of a deleted chat). */
  chat: Nullable(Id),
  description: Type.String(),
  tag: Type.String(),
  video: Type.String(),
  hashtags: Type.Array(Type.String()),
  isAnonymous: Type.Boolean(),
  views: Type.Integer(),
  likes: Type.Integer(),
  superLikes: Type.Integer(),
  shares: Type.Integer(),
  comments: Type.Integer(),
  createdAt: DateTime,
  updatedAt: DateTime,
  /** The viewer's own reactions (rulings.md 18). */
  isLiked: Type.Boolean(),
  isSuperLiked: Type.Boolean(),
  isFavorite: Type.Boolean(),
});
export type Reel = Static<typeof Reel>;

/** The reactions of POST/DELETE /reels/:id/<kind>, as reel_reactions.kind stores them. */
export const REACTIONS = ['like', 'super-like', 'favorite'] as const;
export type Reaction = (typeof REACTIONS)[number];
