import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadParser } from '../../src/core/lint/parser';
import type { ColumnShape, TableShape } from '../../src/core/trace/fillCatalog';
import { limitSentence } from '../../src/core/trace/fill';
import {
  fillOrder,
  plannedRowCounts,
  readCheck,
  valueExpression,
  type CheckReading,
  type ColumnType,
  type SizingTable,
} from '../../src/core/trace/fillValues';
import { chooseUniqueColumns, insertParams, insertSql, planRows } from '../../src/core/trace/rowPlan';

let parse: (expr: string) => CheckReading;

before(async () => {
  const parser = await loadParser();
  parse = (expr) => {
    const stmt = parser.parseSync(`SELECT 1 WHERE ${expr}`).stmts?.[0]?.stmt as {
      SelectStmt: { whereClause: unknown };
    };
    return readCheck(stmt.SelectStmt.whereClause);
  };
});

void describe('trace fill: reading CHECK constraints from the parse tree', () => {
  void it('reads ranges as PostgreSQL prints them (casts, negative constants, AND)', () => {
    const r = parse(`((qty >= 1) AND (qty <= 100) AND (price > (0)::numeric) AND (delta > '-5'::integer))`);
    assert.equal(r.understood, true);
    assert.deepEqual(r.bounds.get('qty'), {
      min: { value: 1, inclusive: true },
      max: { value: 100, inclusive: true },
    });
    assert.deepEqual(r.bounds.get('price'), { min: { value: 0, inclusive: false } });
    assert.deepEqual(r.bounds.get('delta'), { min: { value: -5, inclusive: false } });
  });

  void it('reads BETWEEN, a constant on the left, and keeps the tighter of two bounds', () => {
    const r = parse(`(x BETWEEN 1 AND 10) AND (3 < x) AND (x < 8.5)`);
    assert.deepEqual(r.bounds.get('x'), {
      min: { value: 3, inclusive: false },
      max: { value: 8.5, inclusive: false },
    });
  });

  void it('reads IN lists and = ANY (ARRAY[...]), intersecting two of them', () => {
    const r = parse(
      `(status = ANY (ARRAY['new'::text, 'paid'::text, 'gone'::text])) AND (status IN ('paid', 'new', 'x'))`,
    );
    assert.deepEqual(r.bounds.get('status')?.allowed, ["'new'", "'paid'"]);
    assert.deepEqual(parse(`(n IN (1, 2, 3))`).bounds.get('n')?.allowed, ['1', '2', '3']);
  });

  void it('reads length limits, a domain VALUE, and a column greater than another', () => {
    assert.deepEqual(parse(`(char_length((code)::text) <= 3) AND (length(code) > 1)`).bounds.get('code'), {
      maxLength: 3,
      minLength: 2,
    });
    assert.deepEqual(parse(`(VALUE > 0)`).bounds.get('value'), { min: { value: 0, inclusive: false } });
    assert.deepEqual(parse(`(ends_at > starts_at)`).bounds.get('ends_at'), {
      greaterThan: [{ column: 'starts_at', inclusive: false }],
    });
    assert.deepEqual(parse(`(starts_at <= ends_at)`).bounds.get('ends_at'), {
      greaterThan: [{ column: 'starts_at', inclusive: true }],
    });
  });

  void it('says when it did not understand a part, keeping what it did', () => {
    const r = parse(`(percent > 0) AND ((percent % 7) = 3)`);
    assert.equal(r.understood, false);
    assert.deepEqual(r.bounds.get('percent'), { min: { value: 0, inclusive: false } });
    assert.equal(parse(`(a > 0) OR (b > 0)`).understood, false);
    assert.equal(parse(`(VALUE ~ '^[a-z]+$'::text)`).understood, false);
    assert.equal(parse(`(name <> ''::text)`).understood, true);
  });
});

function type(baseType: string, extra: Partial<ColumnType> = {}): ColumnType {
  return { name: 'col', sqlType: baseType, baseType, typtype: 'b', ...extra };
}

void describe('trace fill: value expressions', () => {
  const ctx = { unique: false, maxRow: 1_000_000 };
  void it('integers: injective r.g for a key, a spread otherwise, inside a CHECK range', () => {
    assert.equal(valueExpression(type('int8'), { ...ctx, unique: true }), '(r.g)::int8');
    assert.equal(valueExpression(type('int4'), ctx), '((r.g % 1000))::int4');
    assert.equal(
      valueExpression(type('int4'), {
        ...ctx,
        bounds: { min: { value: 0, inclusive: false }, max: { value: 10, inclusive: true } },
      }),
      '((1 + (r.g % 1000) % 10))::int4',
    );
    assert.equal(
      valueExpression(type('int2'), {
        ...ctx,
        unique: true,
        bounds: { min: { value: 100, inclusive: true } },
      }),
      '((100 + (r.g - 1)))::int2',
    );
    assert.equal(
      valueExpression(type('int4'), { ...ctx, bounds: { max: { value: 0, inclusive: false } } }),
      '((-1 - (r.g % 1000)))::int4',
    );
  });

  void it('numeric(p, s) stays below 10^(p - s); a fractional range is spread strictly inside', () => {
    assert.equal(
      valueExpression(type('numeric', { precision: 4, scale: 2 }), ctx),
      '((0 + (r.g % 1000) % 100))::numeric',
    );
    assert.equal(
      valueExpression(type('numeric'), {
        ...ctx,
        bounds: { min: { value: 0.5, inclusive: false }, max: { value: 1.5, inclusive: false } },
      }),
      '((0.5 + (1.5 - 0.5) * ((r.g % 999) + 1) / 1000.0))::numeric',
    );
  });

  void it('text: within varchar(n) and length CHECKs, unique from the row number', () => {
    assert.equal(
      valueExpression(type('text', { name: 'title' }), { ...ctx, unique: true }),
      "(('title_' || r.g))::text",
    );
    assert.equal(
      valueExpression(type('varchar', { name: 'title', sqlType: 'character varying(5)', maxLength: 5 }), {
        ...ctx,
        unique: true,
        maxRow: 9_999,
      }),
      '((r.g::text))::character varying(5)',
    );
    assert.equal(
      valueExpression(type('varchar', { name: 'title', sqlType: 'character varying(4)', maxLength: 4 }), ctx),
      "((left('title_' || (r.g % 1000), 4)))::character varying(4)",
    );
    assert.equal(
      valueExpression(type('text', { name: 'email' }), { ...ctx, unique: true }),
      "(('user' || r.g || '@example.com'))::text",
    );
    assert.equal(
      valueExpression(type('text', { name: 'code' }), { ...ctx, bounds: { minLength: 12 } }),
      "((rpad('code_' || (r.g % 1000), 12, 'x')))::text",
    );
  });

  void it('enums cycle through their labels; IN lists through their values; a key takes each once', () => {
    const status = type('order_status', {
      typtype: 'e',
      sqlType: 'shop.order_status',
      enumLabels: ['new', 'paid'],
    });
    assert.equal(
      valueExpression(status, ctx),
      "((ARRAY['new', 'paid']::text[])[1 + (r.g % 2)::int])::shop.order_status",
    );
    assert.equal(
      valueExpression(type('bpchar', { sqlType: 'character(2)' }), {
        ...ctx,
        bounds: { allowed: ["'eu'", "'us'"] },
      }),
      "((ARRAY['eu', 'us']::text[])[1 + (r.g % 2)::int])::character(2)",
    );
    assert.equal(
      valueExpression(status, { ...ctx, unique: true }),
      "((ARRAY['new', 'paid']::text[])[least(r.g, 2)])::shop.order_status",
    );
  });

  void it('uuid, jsonb, timestamps, bytea, arrays; nothing for a type it does not know', () => {
    assert.equal(valueExpression(type('uuid'), ctx), '(gen_random_uuid())::uuid');
    assert.match(valueExpression(type('jsonb'), ctx)!, /^\(jsonb_build_object\('n', r\.g/);
    assert.equal(
      valueExpression(type('timestamptz'), { ...ctx, unique: true }),
      "(timestamptz '2025-01-01 00:00:00+00' + r.g * interval '1 second')::timestamptz",
    );
    assert.equal(valueExpression(type('bytea'), ctx), '(int8send(r.g))::bytea');
    assert.equal(
      valueExpression(
        type('_int4', {
          sqlType: 'integer[]',
          element: { baseType: 'int4', typtype: 'b', sqlType: 'integer' },
        }),
        ctx,
      ),
      '(ARRAY[((r.g % 1000))::integer, (((r.g + 1) % 1000))::integer])::integer[]',
    );
    assert.equal(valueExpression(type('point'), ctx), undefined);
  });
});

function column(name: string, baseType: string, extra: Partial<ColumnShape> = {}): ColumnShape {
  return {
    name,
    sqlType: baseType,
    baseType,
    typtype: 'b',
    attnum: 1,
    notNull: true,
    hasDefault: false,
    serverUnique: false,
    identity: '',
    generated: false,
    bounds: {},
    ...extra,
  };
}

function table(name: string, columns: ColumnShape[], extra: Partial<TableShape> = {}): TableShape {
  const [schema, relname] = name.split('.') as [string, string];
  return {
    oid: 1,
    name,
    schema,
    relname,
    sqlName: `"${schema}"."${relname}"`,
    relkind: 'r',
    columns,
    uniques: [],
    foreignKeys: [],
    checks: [],
    ...extra,
  };
}

void describe('trace fill: row plans', () => {
  const fk = (name: string, columns: string[], parent: string) => ({
    name,
    columns,
    parent,
    parentSqlName: parent,
    parentColumns: ['id'],
  });

  void it('leaves identity, serial, generated and defaulted columns to the server', () => {
    const t = table('s.t', [
      column('id', 'int8', { identity: 'a', hasDefault: true, serverUnique: true }),
      column('seq', 'int4', { hasDefault: true, serverUnique: true, defaultExpr: "nextval('s')" }),
      column('total', 'int4', { generated: true }),
      column('created', 'timestamptz', { hasDefault: true, defaultExpr: 'now()' }),
      column('note', 'text', { notNull: false }),
    ]);
    const plan = planRows(t, { maxRow: 10, parentHasKeys: () => true });
    assert.deepEqual(
      plan.columns.map((c) => c.name),
      ['note'],
    );
    assert.deepEqual(plan.blockers, []);
  });

  void it('makes one generated column of each unique key injective; a server-made key needs none', () => {
    const t = table(
      's.t',
      [
        column('id', 'int8', { identity: 'd', hasDefault: true, serverUnique: true }),
        column('tenant', 'int4'),
        column('code', 'text'),
        column('kind', 'bool'),
      ],
      {
        uniques: [
          { name: 't_pkey', columns: ['id'], primary: true },
          { name: 't_tenant_code', columns: ['tenant', 'code'], primary: false },
          { name: 't_kind', columns: ['kind'], primary: false },
        ],
      },
    );
    // int before text; a boolean can never be unique for long (the server will say so).
    assert.deepEqual([...chooseUniqueColumns(t, new Set()).injective], ['tenant']);
    assert.deepEqual([...chooseUniqueColumns(t, new Set(['tenant'])).injective], ['code']);
    // A column a CHECK confines to ten values would run out; the unconfined one carries the key.
    const confined = table(
      's.u',
      [
        column('slot', 'int4', {
          bounds: { min: { value: 1, inclusive: true }, max: { value: 10, inclusive: true } },
        }),
        column('label', 'text'),
      ],
      { uniques: [{ name: 'u_slot_label', columns: ['slot', 'label'], primary: false }] },
    );
    assert.deepEqual([...chooseUniqueColumns(confined, new Set()).injective], ['label']);
  });

  void it("takes foreign-key columns from the parents' keys, strided when only they make a key unique", () => {
    const t = table('s.lines', [column('order_id', 'int8'), column('sku', 'text'), column('qty', 'int4')], {
      uniques: [{ name: 'lines_pkey', columns: ['order_id', 'sku'], primary: true }],
      foreignKeys: [fk('lines_order', ['order_id'], 's.orders'), fk('lines_sku', ['sku'], 's.products')],
    });
    const plan = planRows(t, { maxRow: 10, parentHasKeys: () => true });
    assert.deepEqual(plan.columns.slice(0, 2), [
      { name: 'order_id', expr: '(r.k0_0)::int8' },
      { name: 'sku', expr: '(r.k1_0)::text' },
    ]);
    assert.deepEqual(
      plan.slots.map((s) => s.strided),
      [true, true],
    );
    // 2 orders × 3 products: six distinct pairs for rows 1..6, the order changing fastest.
    const params = insertParams(plan, [[['o1', 'o2']], [['p1', 'p2', 'p3']]], 1, 6);
    assert.deepEqual(params, [1, ['o1', 'o2', 'o1', 'o2', 'o1', 'o2'], ['p1', 'p1', 'p2', 'p2', 'p3', 'p3']]);
    assert.match(
      insertSql(plan),
      /FROM unnest\(\$2::text\[\], \$3::text\[\]\) WITH ORDINALITY AS s\(k0_0, k1_0, i\)/,
    );
  });

  void it('a required foreign key to an empty parent blocks the table; an optional one is left NULL', () => {
    const required = table('s.c', [column('id', 'int4'), column('p', 'int4')], {
      foreignKeys: [fk('c_p', ['p'], 's.p')],
    });
    assert.deepEqual(planRows(required, { maxRow: 10, parentHasKeys: () => false }).blockers, [
      'The foreign key "c_p" of s.c requires a row of s.p, which has none to reference.',
    ]);
    const optional = table('s.c', [column('id', 'int4'), column('p', 'int4', { notNull: false })], {
      foreignKeys: [fk('c_p', ['p'], 's.p')],
    });
    const plan = planRows(optional, { maxRow: 10, parentHasKeys: () => false });
    assert.deepEqual(
      plan.columns.map((c) => c.name),
      ['id'],
    );
    assert.deepEqual(plan.nulledForeignKeys, ['p']);
  });

  void it('a required self reference points each row at itself; a greater column follows the lesser', () => {
    const t = table(
      's.emp',
      [
        column('id', 'int4'),
        column('boss', 'int4'),
        column('starts', 'timestamptz'),
        column('ends', 'timestamptz', { bounds: { greaterThan: [{ column: 'starts', inclusive: false }] } }),
      ],
      {
        uniques: [{ name: 'emp_pkey', columns: ['id'], primary: true }],
        foreignKeys: [fk('emp_boss', ['boss'], 's.emp')],
      },
    );
    const plan = planRows(t, { maxRow: 10, parentHasKeys: () => true });
    const byName = Object.fromEntries(plan.columns.map((c) => [c.name, c.expr]));
    assert.equal(byName.boss, '((r.g)::int4)::int4');
    assert.match(byName.ends!, /^\(\(\(timestamptz .*\)::timestamptz\) \+ interval '1 hour'\)::timestamptz$/);
  });
});

void describe('trace fill: row counts', () => {
  const t = (name: string, touched: boolean, children: string[] = []): SizingTable => ({
    name,
    bare: name.split('.')[1]!,
    touched,
    children,
  });

  void it('gives every touched table the rows, and an untouched parent a tenth of its largest child', () => {
    const counts = plannedRowCounts(
      [
        t('s.orders', true),
        t('s.lines', true),
        t('s.customers', false, ['s.orders']),
        t('s.regions', false, ['s.customers']),
      ],
      { rows: 1_000_000 },
    );
    assert.deepEqual(Object.fromEntries(counts), {
      's.orders': 1_000_000,
      's.lines': 1_000_000,
      's.customers': 100_000,
      's.regions': 10_000,
    });
  });

  void it('sizes in proportion to production estimates, the largest touched getting the rows', () => {
    const counts = plannedRowCounts(
      [t('s.orders', true), t('s.lines', true), t('s.customers', false, ['s.orders'])],
      {
        rows: 1_000,
        productionRowEstimates: { 's.lines': 8e6, orders: 2e6, 's.customers': 4e5 },
      },
    );
    assert.deepEqual(Object.fromEntries(counts), { 's.orders': 250, 's.lines': 1_000, 's.customers': 50 });
  });

  void it('explicit counts win (bare or qualified); every table gets at least one row', () => {
    const counts = plannedRowCounts([t('s.orders', true), t('s.customers', false, ['s.orders'])], {
      rows: 5,
      rowsPerTable: { orders: 3 },
    });
    assert.deepEqual(Object.fromEntries(counts), { 's.orders': 3, 's.customers': 1 });
    const zero = plannedRowCounts([t('s.a', true)], { rows: 100, productionRowEstimates: { 's.a': 0 } });
    assert.equal(zero.get('s.a'), 100, 'an estimate of 0 (never analysed) is no estimate');
  });

  void it('orders parents before children, self references and cycles included', () => {
    assert.deepEqual(
      fillOrder(
        ['s.lines', 's.orders', 's.customers', 's.emp'],
        [
          { child: 's.lines', parent: 's.orders' },
          { child: 's.orders', parent: 's.customers' },
          { child: 's.emp', parent: 's.emp' },
        ],
      ),
      ['s.customers', 's.emp', 's.orders', 's.lines'],
    );
    assert.deepEqual(
      fillOrder(
        ['s.a', 's.b'],
        [
          { child: 's.a', parent: 's.b' },
          { child: 's.b', parent: 's.a' },
        ],
      ),
      ['s.a', 's.b'],
    );
    // A cycle is broken at the optional key: the table that requires the other comes after it.
    assert.deepEqual(
      fillOrder(
        ['s.a', 's.b'],
        [
          { child: 's.a', parent: 's.b' },
          { child: 's.b', parent: 's.a', optional: true },
        ],
      ),
      ['s.b', 's.a'],
    );
  });
});

void describe('trace fill: the limit sentence', () => {
  void it('names the constraint and where the fill stopped', () => {
    assert.equal(
      limitSentence(
        'shop.coupons',
        {
          code: '23514',
          constraint: 'coupons_percent_check',
          message: 'new row for relation "coupons" violates check constraint "coupons_percent_check"',
        },
        98,
        500,
      ),
      'The check constraint "coupons_percent_check" stopped the fill of shop.coupons at 98 of 500 rows (new row for relation "coupons" violates check constraint "coupons_percent_check").',
    );
    assert.equal(
      limitSentence('s.t', { code: '22003', message: 'smallint out of range' }, 32_767, 100_000),
      'The fill of s.t stopped at 32,767 of 100,000 rows: smallint out of range.',
    );
  });
});
