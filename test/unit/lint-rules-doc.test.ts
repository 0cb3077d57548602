import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RULES } from '../../src/core/lint/rules';

// rules.ts is the single source of each rule's severity and squawk counterparts; docs/rules.md
// (what the diagnostics' links open) must say the same in each rule's heading.
const root = join(__dirname, '../../..');
const doc = readFileSync(join(root, 'docs/rules.md'), 'utf8');

interface Heading {
  severity: string;
  /** The squawk names in backticks, or undefined when the heading says "squawk: none". */
  squawk: string[] | undefined;
  line: string;
}

function headings(text: string): Map<string, Heading> {
  const out = new Map<string, Heading>();
  for (const line of text.split('\n')) {
    const m = /^###\s+`([\w-]+)`\s+\((\w+)\)(.*)$/.exec(line);
    if (!m) continue;
    const tail = m[3].trim();
    let squawk: string[] | undefined = [];
    if (tail === '— squawk: none') squawk = undefined;
    else if (tail.startsWith('— squawk ')) {
      squawk = [...tail.slice('— squawk '.length).matchAll(/`([\w-]+)`/g)].map((n) => n[1]);
    }
    out.set(m[1], { severity: m[2], squawk, line });
  }
  return out;
}

describe('docs/rules.md against rules.ts', () => {
  const byRule = headings(doc);

  it('has one section per rule and none for a rule that does not exist', () => {
    assert.deepEqual([...byRule.keys()].sort(), [...RULES.keys()].sort());
  });

  for (const rule of RULES.values()) {
    it(`${rule.id}: the heading gives its severity and squawk counterparts (or "squawk: none")`, () => {
      const h = byRule.get(rule.id);
      assert.ok(h, `no "### \`${rule.id}\`" section`);
      assert.equal(h.severity, rule.severity, h.line);
      if (rule.squawk.length === 0)
        assert.equal(h.squawk, undefined, `expected "— squawk: none" in: ${h.line}`);
      else assert.deepEqual(h.squawk, [...rule.squawk], h.line);
    });
  }

  it('reads a heading without squawk names as naming none, not as "none"', () => {
    // A heading that forgets the counterparts must fail the checks above for both kinds of rule.
    const h = headings('### `x` (warning)\n').get('x');
    assert.deepEqual(h?.squawk, []);
  });
});
