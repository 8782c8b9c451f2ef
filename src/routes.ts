// Every resource's routes, in one list. Each folder's routes.ts holds its own.
import type { App } from './app.js';
import type { Deps } from './shared/deps.js';
import { registerAccountRoutes, registerUserRoutes } from './users/routes.js';
import { registerConnectionRoutes } from './connections/routes.js';
import { registerDeviceRoutes } from './devices/routes.js';
import { registerMessageRoutes } from './messages/routes.js';
import { registerChatRoutes } from './chats/routes.js';
import { registerParticipantRoutes } from './participants/routes.js';
import { registerPresignRoutes } from './uploads/presign.js';
import { registerExploreRoutes } from './explore/routes.js';
import { registerEventRoutes } from './events/routes.js';
import { registerRequestRoutes } from './requests/routes.js';
import { registerReelRoutes } from './reels/routes.js';
import { registerScoreRoutes } from './score/routes.js';
import { registerSyncRoutes } from './sync/routes.js';

/** Routes that need the bearer token (rulings.md 3). */
export async function registerRoutes(app: App, deps: Deps) {
  registerUserRoutes(app, deps);
  registerConnectionRoutes(app, deps);
  registerDeviceRoutes(app, deps);
  registerMessageRoutes(app, deps);
  registerChatRoutes(app, deps);
  registerParticipantRoutes(app, deps);
  registerPresignRoutes(app, deps);
  registerExploreRoutes(app, deps);
  registerEventRoutes(app, deps);
  registerRequestRoutes(app, deps);
  registerReelRoutes(app, deps);
  registerScoreRoutes(app, deps);
  registerSyncRoutes(app, deps);
}

export async function registerPublicRoutes(app: App, deps: Deps) {
  registerAccountRoutes(app, deps);
}
