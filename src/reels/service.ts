// Reels (supporting-api.md "Events, join requests, reels, score"): POST /reels and the viewer's
// like / super-like / favorite, each idempotent.
import { loadChat, requireParticipant } from '../chats/view.js';
import type { Deps } from '../shared/deps.js';
import { transaction } from '../shared/effects.js';
import { AppError, isForeignKeyViolation } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import * as q from './queries.js';
import type { Reaction, Reel } from './view.js';

export interface CreateReelInput {
  chat?: string;
  description: string;
  tag: string;
  video: string;
  hashtags?: string[];
  isAnonymous?: boolean;
}

/**
 * POST /reels. A reel posted to a chat follows that chat's posting rules, as a message would
 * (supporting-api.md "Messages and files"; the spec is silent on reels): the viewer must be a
 * participant, only admins post where allowPublicPost is false, and an event participant who is
 * pending or rejected cannot post. The video's storage key is kept when the URL is one of ours.
 */
export async function createReel(deps: Deps, viewerId: string, input: CreateReelInput): Promise<Reel> {
  return transaction(deps, async (tx) => {
    if (input.chat) {
      // Locked so that the chat cannot be deleted or changed between the checks and the insert.
      const chat = await loadChat(tx, input.chat, { forUpdate: true });
      const me = await requireParticipant(tx, chat.id, viewerId);
      if (!chat.allowPublicPost && !me.isAdmin) {
        throw new AppError('POSTING_NOT_ALLOWED', 'Only admins can post in this chat');
      }
      if (me.status === 'pending' || me.status === 'rejected') {
        throw new AppError('POSTING_NOT_ALLOWED', `Your participation is ${me.status}: you cannot post yet`);
      }
    }
    const id = newId();
    await q.insertReel(tx, {
      id,
      userId: viewerId,
      chatId: input.chat ?? null,
      description: input.description,
      tag: input.tag.trim(),
      video: input.video,
      videoKey: deps.storage.keyFromUrl(input.video),
      hashtags: input.hashtags ?? [],
      isAnonymous: input.isAnonymous ?? false,
    });
    return (await q.reelForViewer(tx, id, viewerId))!;
  });
}

/** POST /reels/:id/<kind>: a second add changes nothing. */
export async function react(deps: Deps, viewerId: string, reelId: string, kind: Reaction): Promise<void> {
  await transaction(deps, async (tx) => {
    if (!(await q.reelExists(tx, reelId))) throw new AppError('REEL_NOT_FOUND', 'No such reel');
    try {
      await q.addReaction(tx, reelId, viewerId, kind);
    } catch (error) {
      // The reel was deleted since the check.
      if (isForeignKeyViolation(error)) throw new AppError('REEL_NOT_FOUND', 'No such reel');
      throw error;
    }
  });
}

/** DELETE /reels/:id/<kind>: removing a reaction that is not there changes nothing. */
export async function unreact(deps: Deps, viewerId: string, reelId: string, kind: Reaction): Promise<void> {
  await transaction(deps, async (tx) => {
    if (!(await q.reelExists(tx, reelId))) throw new AppError('REEL_NOT_FOUND', 'No such reel');
    await q.removeReaction(tx, reelId, viewerId, kind);
  });
}
