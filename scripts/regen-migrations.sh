#!/usr/bin/env bash
# Pre-release only (no database outside tests exists yet): regenerates drizzle/0000_init.sql from
# src/db/schema.ts and keeps the hand-written SQL functions of 0001. After the first release,
# schema changes get a new migration with `npm run db:generate` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/chat-regen-migrations.lock
flock 9
functions=$(cat drizzle/0001_sql_functions.sql)
rm -rf drizzle
npx drizzle-kit generate --name init >/dev/null
npx drizzle-kit generate --custom --name sql_functions >/dev/null
printf '%s\n' "$functions" > drizzle/0001_sql_functions.sql
ls drizzle
