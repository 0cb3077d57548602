import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { LabError } from '../../src/core/errors';
import { silentLogger } from '../../src/core/log';
import {
  ExternalPostgres,
  INVALID_EXTERNAL_URL,
  describeTargetForConfirmation,
  parseExternalUrl,
  validateExternalUrl,
} from '../../src/core/postgres/external';

const SECRET = 'Sup3r-Secret';

/** Every way the error could reach a user or a log must be free of the password. */
function assertNoSecret(error: unknown, secret = SECRET) {
  assert.ok(error instanceof Error);
  for (const text of [error.message, (error as LabError).detail ?? '', error.stack ?? '', inspect(error)]) {
    assert.ok(!text.includes(secret), `the password leaked into: ${text}`);
  }
}

void describe('parseExternalUrl', () => {
  void it('reads host, port, database, user and password from postgres:// and postgresql:// URLs', () => {
    assert.deepEqual(parseExternalUrl(`postgres://app:${SECRET}@db.example.com:6543/shop`), {
      host: 'db.example.com',
      port: 6543,
      database: 'shop',
      user: 'app',
      password: SECRET,
    });
    assert.equal(parseExternalUrl('postgresql://app@db.example.com/shop').host, 'db.example.com');
  });

  void it('defaults the port to 5432 and decodes percent-encoded parts', () => {
    const parts = parseExternalUrl('postgres://us%40er:p%2Fss%23@localhost/my%20db?sslmode=require');
    assert.equal(parts.port, 5432);
    assert.equal(parts.database, 'my db');
    assert.equal(parts.user, 'us@er');
    assert.equal(parts.password, 'p/ss#');
  });

  void it('accepts an IPv6 host and a Unix socket directory given as ?host=', () => {
    assert.equal(parseExternalUrl('postgres://u:p@[::1]:5432/db').host, '[::1]');
    assert.equal(parseExternalUrl('postgres:///db?host=/var/run/postgresql').host, '/var/run/postgresql');
  });

  const invalid: Record<string, string> = {
    'not a URL': `just some text ${SECRET}`,
    'another scheme': `mysql://app:${SECRET}@db.example.com/shop`,
    'an http URL': `https://app:${SECRET}@db.example.com/shop`,
    'no database': `postgres://app:${SECRET}@db.example.com:5432`,
    'an empty database': `postgres://app:${SECRET}@db.example.com:5432/`,
    'no host': `postgres://app:${SECRET}@:5432/shop`,
    'an unencoded # in the password': `postgres://app:${SECRET}#x@db.example.com/shop`,
    'a bad port': `postgres://app:${SECRET}@db.example.com:99999/shop`,
    'broken percent-encoding': `postgres://app:${SECRET}%E0%A4@db.example.com/shop`,
    'an empty string': '',
  };
  for (const [what, url] of Object.entries(invalid)) {
    void it(`rejects ${what} with the one sentence, never echoing the password`, () => {
      const error = (() => {
        try {
          parseExternalUrl(url);
        } catch (e) {
          return e;
        }
        return assert.fail(`accepted ${what}`);
      })();
      assert.ok(error instanceof LabError);
      assert.equal(error.message, INVALID_EXTERNAL_URL);
      assert.ok(error.detail, 'the log gets the reason');
      assert.equal(error.cause, undefined, "Node's URL error carries the whole input, so it is not kept");
      assertNoSecret(error);
    });
  }
});

void describe('validateExternalUrl', () => {
  void it('returns undefined for a good URL and the sentence for a bad one', () => {
    assert.equal(validateExternalUrl('postgres://u:p@h:5432/d'), undefined);
    assert.equal(validateExternalUrl(`postgres://u:${SECRET}@h:5432`), INVALID_EXTERNAL_URL);
  });
});

void describe('ExternalPostgres', () => {
  void it('throws the sentence from the constructor for a malformed URL', () => {
    assert.throws(
      () => new ExternalPostgres(`postgres://u:${SECRET}@h`, { logger: silentLogger }),
      (e: unknown) => {
        assertNoSecret(e);
        return e instanceof LabError && e.message === INVALID_EXTERNAL_URL;
      },
    );
  });

  void it('describe() gives host, port and database only', () => {
    const provider = new ExternalPostgres(`  postgres://app:${SECRET}@db.example.com:6543/shop  `, {
      logger: silentLogger,
    });
    assert.equal(provider.kind, 'external');
    assert.deepEqual(provider.describe(), { host: 'db.example.com', port: 6543, database: 'shop' });
    assert.ok(!JSON.stringify(provider.describe()).includes('app'));
  });

  void it('describeTargetForConfirmation() names the database and the host', () => {
    const provider = new ExternalPostgres(`postgres://app:${SECRET}@db.example.com:6543/shop`, {
      logger: silentLogger,
    });
    const text = describeTargetForConfirmation(provider.describe());
    assert.equal(text, 'database "shop" on db.example.com:6543');
    assert.ok(!text.includes(SECRET));
  });

  void it('stop() is a no-op that can be called twice', async () => {
    const provider = new ExternalPostgres('postgres://u:p@h/d', { logger: silentLogger });
    await provider.stop();
    await provider.stop();
    assert.deepEqual(provider.describe(), { host: 'h', port: 5432, database: 'd' });
  });

  void it('start() honours an already-aborted signal without connecting', async () => {
    const provider = new ExternalPostgres('postgres://u:p@127.0.0.1:1/d', { logger: silentLogger });
    await assert.rejects(provider.start(AbortSignal.abort()), { name: 'CancelledError' });
  });
});
