import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lintSql, type LintResult } from '../../src/core/lint/lint';
import { RULES, type RuleId } from '../../src/core/lint/rules';

const EARLIER = `
CREATE TABLE orders (id int PRIMARY KEY, parent_id int, amount int, note varchar(20), total numeric(10,2), status text);
CREATE INDEX orders_amount_idx ON orders (amount);
CREATE TABLE parent (id int PRIMARY KEY);
CREATE MATERIALIZED VIEW totals AS SELECT parent_id, sum(amount) FROM orders GROUP BY parent_id;
CREATE TYPE mood AS ENUM ('sad');
CREATE DOMAIN amount_value AS int;
CREATE TABLE payments (id int PRIMARY KEY, amount amount_value);
`;

const TIMEOUT = "SET lock_timeout = '2s';\n";

async function rules(sql: string, options: Partial<Parameters<typeof lintSql>[1]> = {}): Promise<RuleId[]> {
  const result: LintResult = await lintSql(sql, { pgMajor: 18, earlier: EARLIER, ...options });
  return result.findings.map((f) => f.rule);
}

/** Each rule: a migration that triggers it, and the safe way that does not. */
const EXAMPLES: {
  rule: RuleId;
  failing: string;
  passing: string;
  options?: Partial<Parameters<typeof lintSql>[1]>;
}[] = [
  { rule: 'syntax-error', failing: 'SELEC 1;', passing: 'SELECT 1;' },
  {
    rule: 'index-without-concurrently',
    failing: 'CREATE INDEX orders_status_idx ON orders (status);',
    passing:
      'CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\nCREATE TABLE fresh (a int);\nCREATE INDEX fresh_a ON fresh (a);',
  },
  {
    rule: 'concurrently-in-transaction',
    failing: 'CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);',
    passing: 'CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);',
    options: {
      mode: 'transaction',
      why: 'dbmate runs each section in a transaction.',
      wayOut: 'add `transaction:false` to its `-- migrate:up` line',
    },
  },
  {
    rule: 'constraint-without-not-valid',
    failing: TIMEOUT + 'ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (parent_id) REFERENCES parent (id);',
    passing:
      TIMEOUT +
      'ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT fk;',
  },
  {
    rule: 'set-not-null',
    failing: TIMEOUT + 'ALTER TABLE orders ALTER COLUMN amount SET NOT NULL;',
    passing: TIMEOUT + 'ALTER TABLE orders ADD CONSTRAINT amount_nn CHECK (amount IS NOT NULL) NOT VALID;',
  },
  {
    rule: 'add-column-rewrite',
    failing: TIMEOUT + 'ALTER TABLE orders ADD COLUMN token float8 DEFAULT random();',
    passing: TIMEOUT + "ALTER TABLE orders ADD COLUMN region text DEFAULT 'eu';",
  },
  {
    rule: 'type-change-rewrite',
    failing: TIMEOUT + 'ALTER TABLE orders ALTER COLUMN amount TYPE bigint;',
    passing:
      TIMEOUT +
      'ALTER TABLE orders ALTER COLUMN note TYPE varchar(50);\nALTER TABLE orders ALTER COLUMN note TYPE text;\nALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);',
  },
  {
    rule: 'unique-constraint-directly',
    failing: TIMEOUT + 'ALTER TABLE orders ADD CONSTRAINT note_key UNIQUE (note);',
    passing: TIMEOUT + 'ALTER TABLE orders ADD CONSTRAINT note_key UNIQUE USING INDEX orders_note_uidx;',
  },
  {
    rule: 'access-exclusive-without-lock-timeout',
    failing: "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new';",
    passing: TIMEOUT + "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new';",
  },
  {
    rule: 'statements-after-access-exclusive',
    failing:
      TIMEOUT + "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new';\nUPDATE parent SET id = id;",
    passing:
      TIMEOUT + "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new';\nUPDATE parent SET id = id;",
    options: { mode: 'transaction', why: 'Flyway runs each migration in a transaction.' },
  },
  {
    rule: 'rename-or-drop',
    failing: TIMEOUT + 'ALTER TABLE orders RENAME COLUMN note TO remark;',
    passing: TIMEOUT + 'ALTER TABLE orders ADD COLUMN remark text;',
  },
  {
    rule: 'truncate-cascade',
    failing: TIMEOUT + 'TRUNCATE orders CASCADE;',
    passing: TIMEOUT + 'TRUNCATE orders;',
  },
  {
    rule: 'rewrite-under-access-exclusive',
    failing: TIMEOUT + 'VACUUM FULL orders;',
    passing: 'VACUUM orders;',
  },
  {
    rule: 'refresh-without-concurrently',
    failing: TIMEOUT + 'REFRESH MATERIALIZED VIEW totals;',
    passing: 'REFRESH MATERIALIZED VIEW CONCURRENTLY totals;',
  },
  {
    rule: 'enum-add-value-in-transaction',
    failing: "ALTER TYPE mood ADD VALUE 'happy';",
    passing: "ALTER TYPE mood ADD VALUE 'happy';",
    options: { mode: 'transaction', pgMajor: 11 },
  },
  {
    rule: 'adding-required-field',
    failing: TIMEOUT + 'ALTER TABLE orders ADD COLUMN region text NOT NULL;',
    passing:
      TIMEOUT +
      "ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';\n" +
      'ALTER TABLE orders ADD COLUMN seq bigint NOT NULL GENERATED ALWAYS AS IDENTITY;\n' +
      'ALTER TABLE orders ADD COLUMN remark text;\n' +
      'CREATE TABLE fresh (a int);\nALTER TABLE fresh ADD COLUMN b int NOT NULL;',
  },
  {
    rule: 'concurrently-on-partitioned-table',
    failing:
      'CREATE TABLE m (v int) PARTITION BY RANGE (v);\nCREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (10);\nCREATE INDEX CONCURRENTLY m_v ON m (v);',
    passing:
      'CREATE TABLE m (v int) PARTITION BY RANGE (v);\nCREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (10);\nCREATE INDEX CONCURRENTLY m1_v ON m1 (v);\nCREATE INDEX m_v ON ONLY m (v);\nALTER INDEX m_v ATTACH PARTITION m1_v;',
  },
  {
    rule: 'drop-database',
    failing: 'DROP DATABASE reporting;',
    passing: 'DROP TABLE IF EXISTS scratch_rows;',
  },
  {
    rule: 'alter-domain-constraint',
    failing: 'ALTER DOMAIN amount_value ADD CONSTRAINT amount_positive CHECK (VALUE > 0);',
    passing:
      'ALTER DOMAIN amount_value ADD CONSTRAINT amount_positive CHECK (VALUE > 0) NOT VALID;\n' +
      'CREATE DOMAIN fresh_value AS int;\nALTER DOMAIN fresh_value ADD CONSTRAINT fresh_positive CHECK (VALUE > 0);',
  },
  {
    rule: 'uncommitted-transaction',
    failing: 'BEGIN;\nCREATE TABLE fresh (a int);',
    passing: 'BEGIN;\nCREATE TABLE fresh (a int);\nCOMMIT;',
  },
  {
    rule: 'transaction-control-in-transaction',
    failing: 'BEGIN;\nSELECT 1;\nCOMMIT;',
    passing: 'SELECT 1;',
    options: { mode: 'transaction', why: 'Flyway runs each migration in a transaction.' },
  },
];

void describe('lint rules: a failing and a passing example each', () => {
  for (const example of EXAMPLES) {
    void it(example.rule, async () => {
      assert.ok(RULES.has(example.rule));
      const failing = await rules(example.failing, example.options);
      assert.ok(
        failing.includes(example.rule),
        `${example.rule} found in: ${example.failing} (found ${failing.join(', ')})`,
      );
      // The passing example runs the way that makes it safe: statement by statement, a major that allows it.
      const passingOptions =
        example.rule === 'statements-after-access-exclusive' ||
        example.rule === 'concurrently-in-transaction' ||
        example.rule === 'enum-add-value-in-transaction'
          ? { mode: 'autocommit' as const }
          : example.options;
      const passing = await rules(example.passing, {
        ...passingOptions,
        earlier: `${EARLIER}\nCREATE UNIQUE INDEX orders_note_uidx ON orders (note);`,
      });
      assert.equal(
        passing.includes(example.rule),
        false,
        `${example.rule} not found in: ${example.passing} (found ${passing.join(', ')})`,
      );
    });
  }

  void it('adding-required-field: PRIMARY KEY without a default counts; serial and a nullable column do not', async () => {
    assert.ok(
      (await rules(TIMEOUT + 'ALTER TABLE parent ADD COLUMN code int PRIMARY KEY;')).includes(
        'adding-required-field',
      ),
    );
    assert.equal(
      (await rules(TIMEOUT + 'ALTER TABLE orders ADD COLUMN n bigserial NOT NULL;')).includes(
        'adding-required-field',
      ),
      false,
    );
  });

  void it('uncommitted-transaction: reported once, at the BEGIN, and not where the tool wraps the section', async () => {
    const result = await lintSql('SELECT 1;\nBEGIN;\nCREATE TABLE fresh (a int);', { pgMajor: 18 });
    const found = result.findings.filter((f) => f.rule === 'uncommitted-transaction');
    assert.deepEqual(
      found.map((f) => [f.line, f.column]),
      [[2, 1]],
    );
    const unparsed = await rules('BEGIN;\nCREATE TABLE fresh (a int);\n\\ir other.sql\nCOMMIT;');
    assert.deepEqual(
      unparsed,
      ['syntax-error'],
      'a COMMIT lost in an unparsed statement is not reported missing',
    );
    const wrapped = await rules('BEGIN;\nCREATE TABLE fresh (a int);', {
      mode: 'transaction',
      why: 'Flyway runs each migration in a transaction.',
    });
    assert.deepEqual(wrapped, ['transaction-control-in-transaction']);
  });

  void it('covers every rule', () => {
    assert.deepEqual(new Set(EXAMPLES.map((e) => e.rule)), new Set(RULES.keys()));
  });

  void it('counts lock_timeout 0, DEFAULT and RESET as no timeout, any other value as one', async () => {
    const alter = "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new';";
    for (const set of [
      'SET lock_timeout = 0;',
      "SET lock_timeout = '0';",
      'SET lock_timeout TO DEFAULT;',
      "SET lock_timeout = '1s';\nRESET lock_timeout;",
    ]) {
      assert.ok((await rules(`${set}\n${alter}`)).includes('access-exclusive-without-lock-timeout'), set);
    }
    for (const set of ['SET lock_timeout = 500;', "SET lock_timeout TO '1min';"]) {
      assert.equal(
        (await rules(`${set}\n${alter}`)).includes('access-exclusive-without-lock-timeout'),
        false,
        set,
      );
    }
  });

  void it('counts SET LOCAL lock_timeout only inside a transaction, and only until it ends', async () => {
    const alter = "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new';";
    const local = "SET LOCAL lock_timeout = '3s';";
    const flagged = async (sql: string, mode?: 'transaction') =>
      (
        await rules(sql, mode ? { mode, why: 'The tool runs each migration in a transaction.' } : {})
      ).includes('access-exclusive-without-lock-timeout');
    // autocommit: PostgreSQL ignores SET LOCAL outside a transaction block
    assert.equal(await flagged(`${local}\n${alter}`), true);
    assert.equal(await flagged(`${local}\n${alter}`, 'transaction'), false);
    assert.equal(await flagged(`BEGIN;\n${local}\n${alter}\nCOMMIT;`), false);
    // its value ends with the transaction; a session SET outlives it
    assert.equal(await flagged(`BEGIN;\n${local}\nCOMMIT;\n${alter}`), true);
    assert.equal(await flagged(`BEGIN;\nSET lock_timeout = '2s';\nCOMMIT;\n${alter}`), false);
  });

  void it('follows the target major: a constant default rewrites before 11, not after', async () => {
    const sql = TIMEOUT + "ALTER TABLE orders ADD COLUMN region text DEFAULT 'eu';";
    assert.ok((await rules(sql, { pgMajor: 10 })).includes('add-column-rewrite'));
    assert.equal((await rules(sql, { pgMajor: 11 })).includes('add-column-rewrite'), false);
    const rename = await lintSql('ALTER INDEX orders_amount_idx RENAME TO orders_amount_index;', {
      pgMajor: 11,
      earlier: EARLIER,
    });
    assert.deepEqual(rename.statements[0].locks, [
      { relation: 'public.orders_amount_idx', mode: 'AccessExclusiveLock' },
    ]);
    const renameNow = await lintSql('ALTER INDEX orders_amount_idx RENAME TO orders_amount_index;', {
      pgMajor: 18,
      earlier: EARLIER,
    });
    assert.deepEqual(renameNow.statements[0].locks, [
      { relation: 'public.orders_amount_idx', mode: 'ShareUpdateExclusiveLock' },
    ]);
  });

  void it('flags statements after ACCESS EXCLUSIVE only inside a transaction', async () => {
    const sql =
      TIMEOUT + "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new';\nUPDATE parent SET id = id;";
    assert.ok(
      (
        await rules(sql, { mode: 'transaction', why: 'The tool runs each migration in a transaction.' })
      ).includes('statements-after-access-exclusive'),
    );
  });

  void it('names the tool rule and its way out for CONCURRENTLY in a one-string section', async () => {
    const result = await lintSql('CREATE INDEX CONCURRENTLY a ON orders (status);\nSELECT 1;', {
      pgMajor: 18,
      earlier: EARLIER,
      mode: 'single-string',
      why: 'Prisma sends the whole migration.sql as one string.',
      wayOut: 'put the statement alone in a new migration folder',
    });
    const f = result.findings.find((x) => x.rule === 'concurrently-in-transaction');
    assert.ok(f);
    assert.match(f.message, /Prisma sends the whole migration\.sql as one string/);
    assert.match(f.message, /new migration folder/);
    // alone in its string it runs outside a transaction
    const alone = await lintSql('CREATE INDEX CONCURRENTLY a ON orders (status);', {
      pgMajor: 18,
      earlier: EARLIER,
      mode: 'single-string',
    });
    assert.equal(
      alone.findings.some((x) => x.rule === 'concurrently-in-transaction'),
      false,
    );
  });
});

void describe('lint: findings from an audit against real servers', () => {
  const findings = async (sql: string, earlier = EARLIER) =>
    (await lintSql(sql, { pgMajor: 18, earlier })).findings;

  void it('ADD COLUMN … UNIQUE / PRIMARY KEY builds its index under ACCESS EXCLUSIVE', async () => {
    for (const sql of [
      'ALTER TABLE orders ADD COLUMN code int UNIQUE;',
      'ALTER TABLE parent ADD COLUMN k int PRIMARY KEY;',
    ])
      assert.ok(
        (await findings(TIMEOUT + sql)).some((f) => f.rule === 'unique-constraint-directly'),
        sql,
      );
    assert.deepEqual(await findings(TIMEOUT + 'ALTER TABLE orders ADD COLUMN code int;'), []);
  });

  void it('DROP TABLE names the dropped table, not one its foreign key referenced', async () => {
    const found = await findings(
      'BEGIN;\nCREATE TABLE import_rows (id int, parent_id int REFERENCES parent (id));\nDROP TABLE import_rows;\nCOMMIT;',
    );
    assert.deepEqual(
      found.filter((f) => f.rule === 'rename-or-drop'),
      [],
      'the dropped table was created here; parent is only locked',
    );
    const [drop] = (await findings(TIMEOUT + 'DROP TABLE orders;')).filter(
      (f) => f.rule === 'rename-or-drop',
    );
    assert.match(drop.message, /^DROP TABLE public\.orders:/);
  });

  void it('an array type change rewrites; a cast-only USING, finer precision and longer bit varying do not', async () => {
    const earlier = `${EARLIER}\nCREATE TABLE tagged (id int, tags varchar(10)[], at timestamptz(3), bits bit varying(5));`;
    const rewrites = async (sql: string) =>
      (await findings(TIMEOUT + sql, earlier)).some((f) => f.rule === 'type-change-rewrite');
    assert.equal(await rewrites('ALTER TABLE tagged ALTER COLUMN tags TYPE varchar(20)[];'), true);
    assert.equal(await rewrites('ALTER TABLE tagged ALTER COLUMN tags TYPE text[];'), true);
    assert.equal(
      await rewrites('ALTER TABLE orders ALTER COLUMN note TYPE varchar(50) USING note::varchar(50);'),
      false,
    );
    assert.equal(await rewrites('ALTER TABLE orders ALTER COLUMN note TYPE int USING note::int;'), true);
    assert.equal(await rewrites('ALTER TABLE tagged ALTER COLUMN at TYPE timestamptz(6);'), false);
    assert.equal(await rewrites('ALTER TABLE tagged ALTER COLUMN at TYPE timestamptz(0);'), true);
    assert.equal(await rewrites('ALTER TABLE tagged ALTER COLUMN bits TYPE bit varying(10);'), false);
  });

  void it('timestamp → timestamptz: a rewrite, unless the session runs in UTC (said in the message)', async () => {
    const earlier = `${EARLIER}\nCREATE TABLE stamped (id int, at timestamp);`;
    const [f] = (
      await findings(TIMEOUT + 'ALTER TABLE stamped ALTER COLUMN at TYPE timestamptz;', earlier)
    ).filter((x) => x.rule === 'type-change-rewrite');
    assert.match(f.message, /unless the session runs with TimeZone UTC/);
  });

  void it('a new column of a domain with a CHECK rewrites the table', async () => {
    const earlier = `${EARLIER}\nCREATE DOMAIN positive_int AS int CHECK (VALUE > 0);`;
    const found = await findings(TIMEOUT + 'ALTER TABLE orders ADD COLUMN quantity positive_int;', earlier);
    assert.ok(
      found.some((f) => f.rule === 'add-column-rewrite'),
      JSON.stringify(found),
    );
    assert.deepEqual(await findings(TIMEOUT + 'ALTER TABLE orders ADD COLUMN quantity amount_value;'), []);
  });

  void it('REINDEX: the lock line is the index’s ACCESS EXCLUSIVE, which holds up reads too', async () => {
    const [f] = (await findings(TIMEOUT + 'REINDEX INDEX orders_amount_idx;')).filter(
      (x) => x.rule === 'index-without-concurrently',
    );
    assert.deepEqual(f.lock?.mode, 'AccessExclusiveLock');
    assert.equal(f.lock?.relation, 'public.orders_amount_idx');
    assert.match(f.message, /reads wait as well as writes/);
  });

  void it('VALIDATE in the same transaction as its ADD … NOT VALID keeps the ADD’s lock for the validation', async () => {
    const sql =
      TIMEOUT +
      'ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID;\n' +
      'ALTER TABLE orders VALIDATE CONSTRAINT fk;';
    const inOne = (
      await lintSql(sql, {
        pgMajor: 18,
        earlier: EARLIER,
        mode: 'transaction',
        why: 'dbmate runs each section in a transaction.',
      })
    ).findings.filter((f) => f.rule === 'constraint-without-not-valid');
    assert.equal(inOne.length, 1);
    assert.equal(inOne[0].line, 3);
    assert.match(
      inOne[0].message,
      /the ADD's SHARE ROW EXCLUSIVE on public\.orders is held for the whole validation/,
    );
    // Statement by statement (autocommit), or with a COMMIT in between: each runs in its own transaction.
    assert.deepEqual(
      (await findings(sql)).filter((f) => f.rule === 'constraint-without-not-valid'),
      [],
    );
    const split = sql.replace('NOT VALID;', 'NOT VALID;\nCOMMIT;\nBEGIN;');
    assert.deepEqual(
      (await findings(`BEGIN;\n${split}\nCOMMIT;`)).filter((f) => f.rule === 'constraint-without-not-valid'),
      [],
    );
  });

  void it('PostgreSQL 18: ADD CONSTRAINT … NOT NULL scans; NOT VALID, VALIDATE, then SET NOT NULL does not', async () => {
    const direct = await findings(TIMEOUT + 'ALTER TABLE orders ADD CONSTRAINT amount_nn NOT NULL amount;');
    assert.ok(
      direct.some((f) => f.rule === 'set-not-null'),
      JSON.stringify(direct),
    );
    const safe = await findings(
      TIMEOUT +
        'ALTER TABLE orders ADD CONSTRAINT amount_nn NOT NULL amount NOT VALID;\n' +
        'ALTER TABLE orders VALIDATE CONSTRAINT amount_nn;\nALTER TABLE orders ALTER COLUMN amount SET NOT NULL;',
    );
    assert.deepEqual(
      safe.filter((f) => f.rule === 'set-not-null'),
      [],
    );
  });

  void it('the schema follows renames, SET SCHEMA and LIKE', async () => {
    const earlier = `${EARLIER}
ALTER INDEX orders_amount_idx RENAME TO orders_amount_index;
ALTER TABLE orders ADD CONSTRAINT orders_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) NOT VALID;
ALTER TABLE orders RENAME CONSTRAINT orders_parent_fk TO orders_parent_key;
CREATE SCHEMA archive;
CREATE TABLE old_orders (id int, note varchar(20));
ALTER TABLE old_orders SET SCHEMA archive;
CREATE TABLE orders_copy (LIKE orders);`;
    const facts = async (sql: string) =>
      (await lintSql(TIMEOUT + sql, { pgMajor: 18, earlier })).statements[1];
    // The renamed index still belongs to orders.
    assert.deepEqual((await facts('DROP INDEX orders_amount_index;')).locks.map((l) => l.relation).sort(), [
      'public.orders',
      'public.orders_amount_index',
    ]);
    // The renamed foreign key still references parent.
    assert.ok(
      (await facts('ALTER TABLE orders VALIDATE CONSTRAINT orders_parent_key;')).locks.some(
        (l) => l.relation === 'public.parent' && l.mode === 'RowShareLock',
      ),
    );
    // Columns known in the new schema and through LIKE: a widening rewrites nothing.
    assert.equal(
      (await facts('ALTER TABLE archive.old_orders ALTER COLUMN note TYPE varchar(40);')).rewrites,
      false,
    );
    assert.equal(
      (await facts('ALTER TABLE orders_copy ALTER COLUMN note TYPE varchar(40);')).rewrites,
      false,
    );
  });

  void it('review: ON ONLY CONCURRENTLY on a partitioned table, an unnamed NOT VALID then VALIDATE, two statements on one line', async () => {
    const part = 'CREATE TABLE m (v int) PARTITION BY RANGE (v);\n';
    assert.ok(
      (await rules(`${part}CREATE INDEX CONCURRENTLY m_v ON ONLY m (v);`)).includes(
        'concurrently-on-partitioned-table',
      ),
    );
    const validate = (
      await lintSql(
        TIMEOUT +
          'ALTER TABLE orders ADD CHECK (amount < 100) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT orders_amount_check;',
        {
          pgMajor: 18,
          earlier: EARLIER,
          mode: 'transaction',
          why: 'dbmate runs each section in a transaction.',
        },
      )
    ).findings.filter((f) => f.rule === 'constraint-without-not-valid');
    assert.deepEqual(
      validate.map((f) => f.line),
      [3],
      'the VALIDATE of the constraint named as PostgreSQL names it',
    );
    const oneLine = (
      await lintSql(
        'SELECT 1;\nCREATE INDEX i ON orders (status); CREATE INDEX j ON orders (note); -- squawk-ignore require-concurrent-index-creation',
        { pgMajor: 18, earlier: EARLIER },
      )
    ).findings.filter((f) => f.rule === 'index-without-concurrently');
    assert.deepEqual(
      oneLine.map((f) => [f.line, f.column]),
      [[2, 1]],
      'only the statement the comment trails',
    );
  });

  void it("names the script's own BEGIN as the reason CONCURRENTLY would run in a transaction", async () => {
    const [f] = (
      await findings('SELECT 1;\nBEGIN;\nCREATE INDEX CONCURRENTLY i ON orders (status);\nCOMMIT;')
    ).filter((x) => x.rule === 'concurrently-in-transaction');
    assert.match(
      f.message,
      /here it would: the BEGIN on line 2 opened a transaction block that is still open here\./,
    );
    assert.doesNotMatch(f.message, /no outer BEGIN/);
  });

  void it('policies, rules and SET SCHEMA take ACCESS EXCLUSIVE and need a lock_timeout', async () => {
    for (const sql of [
      'CREATE POLICY p ON orders USING (true);',
      'CREATE RULE r AS ON INSERT TO orders DO ALSO NOTIFY orders;',
      'ALTER TABLE orders SET SCHEMA archive;',
      'DROP POLICY p ON orders;',
    ])
      assert.ok(
        (await findings(sql)).some((f) => f.rule === 'access-exclusive-without-lock-timeout'),
        sql,
      );
  });
});

void describe('lint: tables the history does not show', () => {
  // A lone file, or a folder whose baseline was made outside it: a table this migration did not
  // create existed before it (else the statement would fail), so its locks block someone.
  const lone = async (sql: string) => (await lintSql(sql, { pgMajor: 18 })).findings;
  void it('flags the unsafe forms on a table no earlier migration shows', async () => {
    const found = (
      await lone(
        [
          'CREATE INDEX i ON orders (a);',
          'ALTER TABLE orders ADD CONSTRAINT c CHECK (a > 0);',
          'ALTER TABLE orders ALTER COLUMN a SET NOT NULL;',
          'ALTER TABLE orders ADD CONSTRAINT u UNIQUE (a);',
          'ALTER TABLE orders RENAME COLUMN a TO b;',
        ].join('\n'),
      )
    ).map((f) => `${f.rule}@${f.line}`);
    for (const expected of [
      'index-without-concurrently@1',
      'constraint-without-not-valid@2',
      'set-not-null@3',
      'unique-constraint-directly@4',
      'rename-or-drop@5',
    ])
      assert.ok(found.includes(expected), `${expected} in ${found.join(', ')}`);
  });
  void it('names the unknown table of an unknown index, and says a type change only may rewrite', async () => {
    const [drop] = (await lone('DROP INDEX orders_a_idx;')).filter(
      (f) => f.rule === 'index-without-concurrently',
    );
    assert.match(drop.message, /ACCESS EXCLUSIVE on the table of public\.orders_a_idx/);
    const [type] = (await lone('ALTER TABLE orders ALTER COLUMN a TYPE bigint;')).filter(
      (f) => f.rule === 'type-change-rewrite',
    );
    assert.match(type.message, /unless the new type is binary-coercible from column a's current type/);
    const [known] = (
      await lintSql('ALTER TABLE orders ALTER COLUMN note TYPE int USING 0;', {
        pgMajor: 18,
        earlier: EARLIER,
      })
    ).findings.filter((f) => f.rule === 'type-change-rewrite');
    assert.doesNotMatch(known.message, /unless/);
  });
  void it('still exempts a table created earlier in the same migration', async () => {
    assert.deepEqual(await lone('CREATE TABLE fresh (a int);\nCREATE INDEX fresh_a ON fresh (a);'), []);
  });
});

void describe('lint suppression comments', () => {
  const sql = 'CREATE INDEX orders_status_idx ON orders (status);';
  void it('honours -- migration-lab-ignore: on the line before', async () => {
    assert.ok((await rules(sql)).includes('index-without-concurrently'));
    assert.equal(
      (await rules(`SELECT 1;\n-- migration-lab-ignore: index-without-concurrently\n${sql}`)).includes(
        'index-without-concurrently',
      ),
      false,
    );
  });
  void it('honours it at the top of the file for the whole file', async () => {
    const found = await rules(`-- migration-lab-ignore: index-without-concurrently\nSELECT 1;\n\n${sql}`);
    assert.equal(found.includes('index-without-concurrently'), false);
  });
  void it("honours squawk's ignore comments by squawk rule name", async () => {
    assert.equal(
      (await rules(`SELECT 1;\n-- squawk-ignore require-concurrent-index-creation\n${sql}`)).includes(
        'index-without-concurrently',
      ),
      false,
    );
    assert.equal(
      (await rules(`-- squawk-ignore-file require-concurrent-index-creation\nSELECT 1;\n${sql}`)).includes(
        'index-without-concurrently',
      ),
      false,
    );
    // squawk 2.x's name for the lock_timeout rule, and its older one for both timeouts
    const drop = 'ALTER TABLE orders DROP COLUMN note;';
    for (const name of ['require-lock-timeout', 'require-timeout-settings'])
      assert.equal(
        (await rules(`SELECT 1;\n-- squawk-ignore ${name}\n${drop}`)).includes(
          'access-exclusive-without-lock-timeout',
        ),
        false,
        name,
      );
    assert.ok((await rules(`SELECT 1;\n${drop}`)).includes('access-exclusive-without-lock-timeout'));
    // an ignore for another rule suppresses nothing
    assert.ok(
      (await rules(`SELECT 1;\n-- squawk-ignore ban-drop-column\n${sql}`)).includes(
        'index-without-concurrently',
      ),
    );
  });
  void it('turns every rule off with a bare ignore, for the next statement or (-file) the whole file', async () => {
    const drop = 'ALTER TABLE orders DROP COLUMN note;';
    assert.deepEqual(await rules(`SELECT 1;\n${drop}`), [
      'access-exclusive-without-lock-timeout',
      'rename-or-drop',
    ]);
    for (const comment of ['-- squawk-ignore', '-- migration-lab-ignore'])
      assert.deepEqual(
        await rules(`SELECT 1;\n${comment}\n${drop}\n${sql}`),
        ['index-without-concurrently'],
        comment,
      );
    for (const comment of ['-- squawk-ignore-file', '-- migration-lab-ignore-file'])
      assert.deepEqual(await rules(`SELECT 1;\n${drop}\n${comment}\n${sql}`), [], comment);
  });
  void it('reads ignore comments written as block comments, and a reason after the rule names', async () => {
    const drop = 'ALTER TABLE orders DROP COLUMN note;';
    assert.deepEqual(await rules(`SELECT 1;\n/* squawk-ignore ban-drop-column */\n${drop}`), [
      'access-exclusive-without-lock-timeout',
    ]);
    assert.deepEqual(
      await rules(
        `SELECT 1;\n/* migration-lab-ignore: rename-or-drop, access-exclusive-without-lock-timeout */\n${drop}`,
      ),
      [],
    );
    assert.deepEqual(
      await rules(
        `SELECT 1;\n-- migration-lab-ignore: rename-or-drop (the column is unused since v2)\n${drop}`,
      ),
      ['access-exclusive-without-lock-timeout'],
    );
  });

  void it('applies a comment where squawk does: trailing its statement, inside it, or before it past other comment lines', async () => {
    const index = 'index-without-concurrently';
    const twoIndexes = (between: string, after = '') =>
      `SELECT 1;\nCREATE INDEX a_idx ON orders (status);${after}\n${between}CREATE INDEX b_idx ON orders (note);`;
    const lines = async (sql: string) =>
      (await lintSql(sql, { pgMajor: 18, earlier: EARLIER })).findings
        .filter((f) => f.rule === index)
        .map((f) => f.line);
    // Trailing: the statement it ends, not the next one.
    assert.deepEqual(await lines(twoIndexes('', ' -- squawk-ignore require-concurrent-index-creation')), [3]);
    assert.deepEqual(await lines(twoIndexes('', ` -- migration-lab-ignore: ${index}`)), [3]);
    // Before, with a reason line and a blank line between.
    assert.deepEqual(
      await lines(twoIndexes(`-- migration-lab-ignore: ${index}\n-- the table is tiny\n\n`)),
      [2],
    );
    // Inside the statement, on the line before the flagged clause.
    assert.deepEqual(
      await lines(
        'SELECT 1;\nCREATE INDEX a_idx\n  -- squawk-ignore require-concurrent-index-creation\n  ON orders (status);',
      ),
      [],
    );
  });
});

void describe('lint output shape', () => {
  void it('gives findings with lock, and per-statement facts, with 1-based positions and pg_locks modes', async () => {
    const result = await lintSql("SELECT 1;\n  ALTER TABLE orders ADD COLUMN é text DEFAULT 'x';", {
      pgMajor: 18,
      earlier: EARLIER,
      file: '/m/1.sql',
    });
    const f = result.findings.find((x) => x.rule === 'access-exclusive-without-lock-timeout');
    assert.deepEqual(
      {
        file: f?.file,
        line: f?.line,
        column: f?.column,
        endLine: f?.endLine,
        endColumn: f?.endColumn,
        lock: f?.lock,
        severity: f?.severity,
      },
      {
        file: '/m/1.sql',
        line: 2,
        column: 3,
        endLine: 2,
        endColumn: 51,
        lock: {
          relation: 'public.orders',
          mode: 'AccessExclusiveLock',
          blocks: 'blocks everything, reads included',
        },
        severity: 'warning',
      },
    );
    assert.deepEqual(result.statements[1], {
      file: '/m/1.sql',
      line: 2,
      column: 3,
      endLine: 2,
      endColumn: 51,
      kind: 'ALTER TABLE … ADD COLUMN',
      locks: [{ relation: 'public.orders', mode: 'AccessExclusiveLock' }],
      rewrites: false,
      scans: false,
      transactional: true,
      docs: 'https://www.postgresql.org/docs/18/sql-altertable.html',
    });
  });

  void it('treats a table created earlier in the same migration as harmless', async () => {
    const found = await rules(
      'CREATE TABLE fresh (a int);\nALTER TABLE fresh ALTER COLUMN a SET NOT NULL;\nCREATE INDEX fresh_a ON fresh (a);',
    );
    assert.deepEqual(found, []);
  });
});

void describe('lint: search_path', () => {
  const lockedBy = async (sql: string, earlier: string) =>
    (await lintSql(sql, { pgMajor: 18, earlier })).statements.at(-1)?.locks.map((l) => l.relation);
  void it('resolves unqualified names in the schemas SET search_path names, as PostgreSQL does', async () => {
    const inApp = 'CREATE SCHEMA app;\nSET search_path TO app, public;\nCREATE TABLE orders (a int);';
    assert.deepEqual(await lockedBy('CREATE INDEX i ON orders (a);', inApp), ['app.orders']);
    // an existing table found further down the path wins over the first schema
    assert.deepEqual(
      await lockedBy(
        'SET search_path TO app, public;\nCREATE INDEX i ON orders (a);',
        'CREATE TABLE orders (a int);',
      ),
      ['public.orders'],
    );
    assert.deepEqual(
      await lockedBy(
        'RESET search_path;\nCREATE INDEX i ON orders (a);',
        `${inApp}\nCREATE TABLE public.orders (a int);`,
      ),
      ['public.orders'],
    );
  });
  void it('ends a SET LOCAL search_path with its migration', async () => {
    const earlier = 'BEGIN;\nSET LOCAL search_path TO app;\nCREATE TABLE t (a int);\nCOMMIT;';
    assert.deepEqual(await lockedBy('CREATE INDEX i ON t (a);', earlier), ['public.t']);
  });
});
