// PostgreSQL's table-level lock modes, spelled as pg_locks spells them, and their conflict table
// (https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-TABLES). Everything the
// linter says about what a mode blocks is derived from this one table.

export const LOCK_MODES = [
  'AccessShareLock',
  'RowShareLock',
  'RowExclusiveLock',
  'ShareUpdateExclusiveLock',
  'ShareLock',
  'ShareRowExclusiveLock',
  'ExclusiveLock',
  'AccessExclusiveLock',
] as const;

export type LockMode = (typeof LOCK_MODES)[number];

/** The SQL spelling (`LOCK TABLE … IN <x> MODE`, messages): "SHARE UPDATE EXCLUSIVE". */
export function sqlModeName(mode: LockMode): string {
  return mode
    .replace(/Lock$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
}

/** Strength order: a later mode is at least as strong for the linter's purposes. */
export function modeRank(mode: LockMode): number {
  return LOCK_MODES.indexOf(mode);
}

export function strongerMode(a: LockMode, b: LockMode): LockMode {
  return modeRank(a) >= modeRank(b) ? a : b;
}

/** Which modes each mode conflicts with (PostgreSQL's Table 13.2). */
const CONFLICTS: Record<LockMode, readonly LockMode[]> = {
  AccessShareLock: ['AccessExclusiveLock'],
  RowShareLock: ['ExclusiveLock', 'AccessExclusiveLock'],
  RowExclusiveLock: ['ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'],
  ShareUpdateExclusiveLock: [
    'ShareUpdateExclusiveLock',
    'ShareLock',
    'ShareRowExclusiveLock',
    'ExclusiveLock',
    'AccessExclusiveLock',
  ],
  ShareLock: [
    'RowExclusiveLock',
    'ShareUpdateExclusiveLock',
    'ShareRowExclusiveLock',
    'ExclusiveLock',
    'AccessExclusiveLock',
  ],
  ShareRowExclusiveLock: [
    'RowExclusiveLock',
    'ShareUpdateExclusiveLock',
    'ShareLock',
    'ShareRowExclusiveLock',
    'ExclusiveLock',
    'AccessExclusiveLock',
  ],
  ExclusiveLock: [
    'RowShareLock',
    'RowExclusiveLock',
    'ShareUpdateExclusiveLock',
    'ShareLock',
    'ShareRowExclusiveLock',
    'ExclusiveLock',
    'AccessExclusiveLock',
  ],
  AccessExclusiveLock: LOCK_MODES,
};

export function conflicts(a: LockMode, b: LockMode): boolean {
  return CONFLICTS[a].includes(b);
}

export function isLockMode(value: string): value is LockMode {
  return (LOCK_MODES as readonly string[]).includes(value);
}

/**
 * Whether locks of modes `a` and `b` (as pg_locks spells them) on one table conflict; the lock monitor
 * uses it to tell which of a migration's locks a waiting session was queued behind. An unknown mode is
 * assumed to conflict.
 */
export function lockModesConflict(a: string, b: string): boolean {
  return isLockMode(a) && isLockMode(b) ? conflicts(a, b) : true;
}

/** What the application does and the mode its statements take. */
const EVERYDAY_WORK: readonly { mode: LockMode; words: string }[] = [
  { mode: 'AccessShareLock', words: 'reads (SELECT)' },
  { mode: 'RowShareLock', words: 'SELECT … FOR UPDATE/SHARE' },
  { mode: 'RowExclusiveLock', words: 'writes (INSERT/UPDATE/DELETE)' },
  {
    mode: 'ShareUpdateExclusiveLock',
    words: 'VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY and other schema changes',
  },
];

/** What a mode blocks, in plain words, derived from the conflict table. */
export function blocksInWords(mode: LockMode): string {
  const blocked = EVERYDAY_WORK.filter((w) => conflicts(mode, w.mode));
  if (blocked.some((w) => w.mode === 'AccessShareLock')) return 'blocks everything, reads included';
  if (blocked.some((w) => w.mode === 'RowExclusiveLock')) {
    const forUpdate = blocked.some((w) => w.mode === 'RowShareLock');
    return `blocks writes (INSERT/UPDATE/DELETE)${forUpdate ? ' and SELECT … FOR UPDATE/SHARE' : ''}, not reads`;
  }
  if (blocked.length > 0) return `blocks ${blocked.map((w) => w.words).join(', ')}; not reads or writes`;
  const stronger = CONFLICTS[mode].map(sqlModeName).join(' and ');
  return `blocks only ${stronger} (schema changes that need it), not reads or writes`;
}

/** Short form for a CodeLens line: "blocks writes". */
export function blocksShort(mode: LockMode): string {
  const words = blocksInWords(mode);
  if (words.startsWith('blocks everything')) return 'blocks reads and writes';
  if (words.startsWith('blocks writes')) return 'blocks writes';
  return 'blocks neither reads nor writes';
}

/** `LOCK TABLE`'s numeric mode in the parse tree (1 = ACCESS SHARE … 8 = ACCESS EXCLUSIVE). */
export function lockModeFromNumber(n: number): LockMode {
  return LOCK_MODES[Math.min(Math.max(n, 1), 8) - 1];
}
