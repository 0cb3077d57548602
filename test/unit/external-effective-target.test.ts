import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabError } from '../../src/core/errors';
import { silentLogger } from '../../src/core/log';
import {
  ExternalPostgres,
  describeTargetForConfirmation,
  parseExternalUrl,
} from '../../src/core/postgres/external';

const SECRET = 'Sup3r-Secret';

void describe('the server an external URL really points at', () => {
  void it('takes ?host= and ?port= over the URL authority, as the driver does', () => {
    const url = `postgres://app:${SECRET}@decoy.example.com:5432/shop?host=db.internal&port=6543`;
    const provider = new ExternalPostgres(url, { logger: silentLogger });
    assert.deepEqual(provider.describe(), { host: 'db.internal', port: 6543, database: 'shop' });
    assert.equal(
      describeTargetForConfirmation(provider.describe()),
      'database "shop" on db.internal:6543',
      'the destructive-step confirmation (and its remembered key) name the real server',
    );
    assert.equal(parseExternalUrl(`postgres://app@decoy.example.com/shop?port=7000`).port, 7000);
    assert.equal(parseExternalUrl(`postgres://app@decoy.example.com:6000/shop?host=other`).port, 6000);
  });

  void it('refuses a ?port= the driver could not use', () => {
    assert.throws(() => parseExternalUrl('postgres://app@h/shop?port=abc'), LabError);
    assert.throws(() => parseExternalUrl('postgres://app@h/shop?port=70000'), LabError);
  });

  void it('says which sslrootcert file cannot be read, in one sentence, instead of a bare ENOENT', () => {
    assert.throws(
      () => parseExternalUrl(`postgres://app:${SECRET}@h/shop?sslrootcert=/no/such/root.crt`),
      (e: unknown) => {
        assert.ok(e instanceof LabError);
        assert.equal(
          e.message,
          'The external PostgreSQL URL names the file /no/such/root.crt, which cannot be read (ENOENT); fix its sslrootcert, sslcert or sslkey parameter.',
        );
        assert.ok(!e.message.includes(SECRET) && !(e.detail ?? '').includes(SECRET));
        return true;
      },
    );
  });
});
