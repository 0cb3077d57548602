import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globToRegExp, hasGlob } from '../../src/core/migrations/folderGlob';

describe('folder globs of migrationLab.migrations.paths', () => {
  it('* is one folder name, ** any number of folders (none included)', () => {
    const one = globToRegExp('services/*/migrations');
    assert.ok(one.test('services/billing/migrations'));
    assert.ok(!one.test('services/a/b/migrations'));
    assert.ok(!one.test('services/billing/migrations/old'));
    const any = globToRegExp('**/db/migrations');
    assert.ok(any.test('db/migrations'));
    assert.ok(any.test('apps/api/db/migrations'));
    assert.ok(!any.test('apps/api/db/migrations2'));
  });

  it('? is one character; dots and brackets are literal; a trailing slash is ignored', () => {
    assert.ok(globToRegExp('v?/sql/').test('v1/sql'));
    assert.ok(!globToRegExp('v?/sql').test('v12/sql'));
    assert.ok(globToRegExp('a.b/(x)').test('a.b/(x)'));
    assert.ok(!globToRegExp('a.b').test('axb'));
  });

  it('a path without * or ? names one folder', () => {
    assert.equal(hasGlob('db/migrations'), false);
    assert.equal(hasGlob('services/*/migrations'), true);
  });
});
