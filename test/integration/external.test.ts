import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../src/core/db';
import { LabError } from '../../src/core/errors';
import { memoryLogger } from '../../src/core/log';
import { ExternalPostgres } from '../../src/core/postgres/external';
import { freePort, startTestPostgres, type TestPostgres } from './support';

const WRONG_PASSWORD = 'Wrong-Pa55word-never-logged';

void describe('ExternalPostgres against a real PostgreSQL', () => {
  let pg: TestPostgres;
  let password = '';
  const logger = memoryLogger();

  /** A URL to the test server with parts replaced; the password is percent-encoded as a user would. */
  function url(parts: { password?: string; database?: string; port?: number; user?: string } = {}): string {
    const t = pg.target;
    const user = encodeURIComponent(parts.user ?? t.user);
    const pass = encodeURIComponent(parts.password ?? password);
    return `postgres://${user}:${pass}@${t.host}:${parts.port ?? t.port}/${encodeURIComponent(parts.database ?? t.database)}`;
  }

  async function startFailure(provider: ExternalPostgres): Promise<LabError> {
    const error = await provider.start().then(
      () => assert.fail('start() should have failed'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof LabError, `expected a LabError, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/);
    assert.ok(!error.message.includes(WRONG_PASSWORD) && !error.message.includes(password));
    assert.ok(!(error.detail ?? '').includes(WRONG_PASSWORD));
    assert.ok(!error.message.includes('postgres://'), 'the URL is never echoed');
    return error;
  }

  before(async () => {
    pg = await startTestPostgres();
    password = pg.target.password ?? '';
    assert.ok(password.length >= 8, 'the test server has a real password to keep secret');
  });

  after(async () => {
    await pg?.stop();
  });

  void it('?host= and ?port= move the connection, and the log and describe() name where it went', async () => {
    const closed = await freePort();
    const t = pg.target;
    // The authority names a port nobody listens on; the query string names the real server.
    const moved = `postgres://${encodeURIComponent(t.user)}:${encodeURIComponent(password)}@127.0.0.1:${closed}/${t.database}?host=${t.host}&port=${t.port}`;
    const log = memoryLogger();
    const provider = new ExternalPostgres(moved, { logger: log });
    const target = await provider.start();
    assert.deepEqual(provider.describe(), { host: t.host, port: t.port, database: t.database });
    assert.equal(target.port, t.port);
    const checked = log.lines.find((l) => l.includes('Checking the external PostgreSQL'));
    assert.ok(checked?.includes(`${t.host}:${t.port}`), `the log names the real server: ${checked}`);
    assert.ok(!log.lines.some((l) => l.includes(`:${closed}`)), 'the decoy port is never named');
    const client = await connect(target, 'external-test', logger);
    try {
      const { rows } = await client.query<{ port: number }>("SELECT current_setting('port')::int AS port");
      assert.equal(rows[0].port, t.port, 'the driver connected where describe() says');
    } finally {
      await client.end();
    }
  });

  void it('a correct URL connects and returns a target that works', async () => {
    const provider = new ExternalPostgres(url(), { logger });
    const target = await provider.start();
    assert.equal(target.connectionString, url());
    assert.deepEqual(provider.describe(), {
      host: pg.target.host,
      port: pg.target.port,
      database: pg.target.database,
    });
    const client = await connect(target, 'external-test', logger);
    try {
      const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
      assert.equal(rows[0].db, pg.target.database);
    } finally {
      await client.end();
    }
  });

  void it('a wrong password gives the clear sentence', async () => {
    const error = await startFailure(new ExternalPostgres(url({ password: WRONG_PASSWORD }), { logger }));
    assert.equal(
      error.message,
      `PostgreSQL at ${pg.target.host}:${pg.target.port} rejected the user name or password in the external URL.`,
    );
    assert.match(error.detail ?? '', /28P01/);
  });

  void it('an unknown user gives the same sentence (the server does not say which part is wrong)', async () => {
    const error = await startFailure(new ExternalPostgres(url({ user: 'no_such_role_xyz' }), { logger }));
    assert.equal(
      error.message,
      `PostgreSQL at ${pg.target.host}:${pg.target.port} rejected the user name or password in the external URL.`,
    );
  });

  void it('an unknown database gives its sentence, naming the database', async () => {
    const error = await startFailure(new ExternalPostgres(url({ database: 'no_such_db_xyz' }), { logger }));
    assert.equal(
      error.message,
      `Database "no_such_db_xyz" does not exist on ${pg.target.host}:${pg.target.port}; create it or fix the external URL.`,
    );
  });

  void it('a closed port gives the connection-refused sentence naming host:port only', async () => {
    const closedPort = await freePort();
    const error = await startFailure(new ExternalPostgres(url({ port: closedPort }), { logger }));
    assert.equal(
      error.message,
      `Nothing is accepting PostgreSQL connections at ${pg.target.host}:${closedPort} (connection refused).`,
    );
  });

  void it('the log never contained a password or a URL with credentials', () => {
    assert.ok(logger.lines.length > 0, 'the provider did log');
    const log = logger.lines.join('\n');
    assert.ok(!log.includes(password), 'the real password leaked into the log');
    assert.ok(!log.includes(encodeURIComponent(password)));
    assert.ok(!log.includes(WRONG_PASSWORD), 'the wrong password leaked into the log');
    assert.ok(!/postgres(ql)?:\/\/[^*\s]/.test(log), 'a URL with credentials leaked into the log');
  });
});
