// Every resource's routes, in one list. Each folder's routes.ts holds its own.
import type { App } from './app.js';
import type { Deps } from './shared/deps.js';
import { registerAccountRoutes, registerUserRoutes } from './users/routes.js';

/** Routes that need the bearer token (rulings.md 3). */
export async function registerRoutes(app: App, deps: Deps) {
  registerUserRoutes(app, deps);
}

export async function registerPublicRoutes(app: App, deps: Deps) {
  registerAccountRoutes(app, deps);
}
