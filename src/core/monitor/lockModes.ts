/**
 * PostgreSQL's table-level lock modes, weakest first, and which of them conflict (the table in the
 * documentation's "Explicit Locking" chapter). Used to tell which of a migration's locks a waiting
 * session was really queued behind.
 */
const TABLE_LOCK_MODES = [
  'AccessShareLock',
  'RowShareLock',
  'RowExclusiveLock',
  'ShareUpdateExclusiveLock',
  'ShareLock',
  'ShareRowExclusiveLock',
  'ExclusiveLock',
  'AccessExclusiveLock',
] as const;

/** For each mode (by index above), the indexes of the modes it conflicts with. */
const CONFLICTS: readonly (readonly number[])[] = [
  [7],
  [6, 7],
  [4, 5, 6, 7],
  [3, 4, 5, 6, 7],
  [2, 3, 5, 6, 7],
  [2, 3, 4, 5, 6, 7],
  [1, 2, 3, 4, 5, 6, 7],
  [0, 1, 2, 3, 4, 5, 6, 7],
];

/** Whether a lock of mode `a` and one of mode `b` on the same table conflict; unknown modes are assumed to. */
export function lockModesConflict(a: string, b: string): boolean {
  const i = TABLE_LOCK_MODES.indexOf(a as (typeof TABLE_LOCK_MODES)[number]);
  const j = TABLE_LOCK_MODES.indexOf(b as (typeof TABLE_LOCK_MODES)[number]);
  if (i < 0 || j < 0) return true;
  return CONFLICTS[i]!.includes(j);
}
