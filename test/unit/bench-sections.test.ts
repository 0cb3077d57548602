/**
 * `npm run bench -- --only NAME`: which sections run. Issue 10 lists `parse.ms_per_mb` among the
 * figures of `--only replay`, so replay brings the parse section with it, and parse runs once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectSections } from '../../bench/common';
import { SECTIONS } from '../../bench/sections';

const names = (only: string[]) => selectSections(SECTIONS, only).map((s) => s.name);

void describe('bench --only', () => {
  void it('runs parse with replay, so parse.ms_per_mb is reported with the replay figures', () => {
    assert.deepEqual(names(['replay']), ['parse', 'replay']);
  });

  void it('runs parse once when both are asked, in the list order whatever the order asked', () => {
    assert.deepEqual(names(['replay', 'parse']), ['parse', 'replay']);
    assert.deepEqual(names(['parse']), ['parse']);
  });

  void it('runs only what was asked otherwise, and names an unknown section', () => {
    assert.deepEqual(names(['lint']), ['lint']);
    assert.throws(() => names(['replya']), /--only replya: no such section; known: parse, /);
  });
});
