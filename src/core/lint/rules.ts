// The lint rules, defined once: id, severity, the squawk rule a squawk user knows it by, and a title.
// The checks themselves live in lint.ts, which walks statements with their lock facts.

export type Severity = 'error' | 'warning' | 'info';

export interface RuleInfo {
  id: string;
  severity: Severity;
  /** The squawk rule(s) this corresponds to; their `-- squawk-ignore` comments suppress it too. */
  squawk: readonly string[];
  title: string;
}

const RULE_LIST = [
  {
    id: 'syntax-error',
    severity: 'error',
    squawk: [],
    title: 'The statement does not parse',
  },
  {
    id: 'index-without-concurrently',
    severity: 'warning',
    squawk: ['require-concurrent-index-creation', 'require-concurrent-index-deletion'],
    title: 'Index created, dropped or reindexed without CONCURRENTLY on an existing table',
  },
  {
    id: 'concurrently-in-transaction',
    severity: 'error',
    squawk: ['ban-concurrent-index-creation-in-transaction'],
    title: 'A statement that cannot run in a transaction block, in a section the tool runs in one',
  },
  {
    id: 'constraint-without-not-valid',
    severity: 'warning',
    squawk: ['constraint-missing-not-valid', 'adding-foreign-key-constraint'],
    title: 'CHECK or FOREIGN KEY added without NOT VALID (validates under the lock)',
  },
  {
    id: 'set-not-null',
    severity: 'warning',
    squawk: ['adding-not-nullable-field'],
    title: 'SET NOT NULL on an existing column scans the table under ACCESS EXCLUSIVE',
  },
  {
    id: 'add-column-rewrite',
    severity: 'warning',
    squawk: ['adding-field-with-default', 'adding-serial-primary-key-field'],
    title:
      'Column added with a volatile default, a stored generated column, serial or identity: the table is rewritten',
  },
  {
    id: 'type-change-rewrite',
    severity: 'warning',
    squawk: ['changing-column-type'],
    title: 'Column type change that rewrites the table and its indexes',
  },
  {
    id: 'unique-constraint-directly',
    severity: 'warning',
    squawk: ['disallowed-unique-constraint', 'adding-serial-primary-key-field'],
    title: 'UNIQUE or PRIMARY KEY added directly (builds the index under ACCESS EXCLUSIVE)',
  },
  {
    id: 'access-exclusive-without-lock-timeout',
    severity: 'warning',
    // squawk 2.x reports it as require-lock-timeout; require-timeout-settings is its older name for both timeouts.
    squawk: ['require-lock-timeout', 'require-timeout-settings'],
    title:
      'ACCESS EXCLUSIVE lock requested without a lock_timeout (queues every reader behind it while it waits)',
  },
  {
    id: 'statements-after-access-exclusive',
    severity: 'info',
    squawk: [],
    title:
      'More statements after an ACCESS EXCLUSIVE lock in the same transaction (the lock is held until commit)',
  },
  {
    id: 'rename-or-drop',
    severity: 'warning',
    squawk: ['renaming-column', 'renaming-table', 'ban-drop-column', 'ban-drop-table'],
    title:
      'Rename or drop of a column or table (breaks the application still running against the old schema)',
  },
  {
    id: 'truncate-cascade',
    severity: 'warning',
    squawk: ['ban-truncate-cascade'],
    title: 'TRUNCATE … CASCADE empties every table that references it',
  },
  {
    id: 'rewrite-under-access-exclusive',
    severity: 'warning',
    squawk: [],
    title: 'VACUUM FULL or CLUSTER rewrites the table under ACCESS EXCLUSIVE',
  },
  {
    id: 'refresh-without-concurrently',
    severity: 'warning',
    squawk: [],
    title: 'REFRESH MATERIALIZED VIEW without CONCURRENTLY blocks its readers',
  },
  {
    id: 'enum-add-value-in-transaction',
    severity: 'error',
    squawk: [],
    title: 'ALTER TYPE … ADD VALUE inside a transaction on a PostgreSQL major that refuses it (before 12)',
  },
  {
    id: 'adding-required-field',
    severity: 'warning',
    squawk: ['adding-required-field'],
    title: 'Column added NOT NULL without a DEFAULT to an existing table (fails once the table has rows)',
  },
  {
    id: 'concurrently-on-partitioned-table',
    severity: 'error',
    squawk: [],
    title: 'CREATE INDEX CONCURRENTLY on a partitioned table (PostgreSQL refuses it)',
  },
  {
    id: 'drop-database',
    severity: 'error',
    squawk: ['ban-drop-database'],
    title: 'DROP DATABASE in a migration',
  },
  {
    id: 'alter-domain-constraint',
    severity: 'warning',
    squawk: ['ban-alter-domain-with-add-constraint'],
    title:
      'ALTER DOMAIN adds or validates a constraint: every existing table using the domain is scanned under SHARE',
  },
  {
    id: 'uncommitted-transaction',
    severity: 'warning',
    squawk: ['ban-uncommitted-transaction'],
    title: 'BEGIN with no COMMIT after it in the section (what follows is rolled back when the session ends)',
  },
  {
    id: 'transaction-control-in-transaction',
    severity: 'warning',
    squawk: ['transaction-nesting'],
    title: 'BEGIN/COMMIT/ROLLBACK inside a section the tool already runs in a transaction',
  },
] as const satisfies readonly RuleInfo[];

export type RuleId = (typeof RULE_LIST)[number]['id'];

export const RULES: ReadonlyMap<RuleId, RuleInfo> = new Map(RULE_LIST.map((r) => [r.id, r]));

/** Our rules a squawk rule name maps to (a squawk user's ignore comments keep working). */
export function rulesForSquawkName(name: string): RuleId[] {
  return RULE_LIST.filter((r) => (r.squawk as readonly string[]).includes(name)).map((r) => r.id);
}
