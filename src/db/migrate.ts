// `npm run migrate`: applies the migrations in ./drizzle (start-up does the same by itself).
import { loadConfig } from '../config.js';
import { openDatabase } from './client.js';

const config = loadConfig();
const database = await openDatabase(config.database);
await database.migrate();
await database.close();
console.log(`migrations applied (${database.kind})`);
