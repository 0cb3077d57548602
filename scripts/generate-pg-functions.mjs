// Writes src/core/lint/pgFunctions.ts: the names of PostgreSQL's own functions (schema pg_catalog),
// split by whether any overload is volatile, read from the bundled server's pg_proc. The linter
// uses it to tell a column DEFAULT that forces a rewrite (a volatile call) from one that does not;
// test/integration/lint-functions.test.ts fails when the file no longer matches the server.
// Run after `node scripts/compile-tests.mjs`: node scripts/generate-pg-functions.mjs
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { startTestPostgres } = require(join(root, 'out/test/integration/support.js'));
const { readPgFunctions, pgFunctionsModule } = require(join(root, 'out/test/pgFunctions.js'));

const server = await startTestPostgres();
try {
  const functions = await readPgFunctions(server.target);
  writeFileSync(join(root, 'src/core/lint/pgFunctions.ts'), pgFunctionsModule(functions));
  console.log(
    `src/core/lint/pgFunctions.ts: PostgreSQL ${functions.major}, ${functions.volatile.length} volatile and ${functions.notVolatile.length} other function names.`,
  );
} finally {
  await server.stop();
}
