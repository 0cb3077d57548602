import { LabError } from '../errors';
import { compareVersions, type Migration } from './parse';

/**
 * Pure planning over a sorted list of migrations and the ids recorded as applied.
 * Migrations that share a version number are alternatives (e.g. a plain and a CONCURRENTLY index
 * build): at most one of them may be applied at a time.
 */

/** The leading digits of an id ("0002_x" → "0002"); "" when there are none. */
export function versionOf(id: string): string {
  return /^\d+/.exec(id)?.[0] ?? '';
}

function findTarget(all: readonly Migration[], targetId: string): Migration {
  const target = all.find((m) => m.id === targetId);
  if (!target) throw new LabError(`There is no migration named ${targetId}.`);
  return target;
}

/** Groups by version, lowest first. */
function byVersion(all: readonly Migration[]): Migration[][] {
  const groups: Migration[][] = [];
  for (const m of [...all].sort((a, b) => compareVersions(a.version, b.version))) {
    const last = groups[groups.length - 1];
    if (last && compareVersions(last[0].version, m.version) === 0) last.push(m);
    else groups.push([m]);
  }
  return groups;
}

/**
 * The migrations to apply, in order, so that `targetId` and one migration of every lower version are
 * applied. Refuses when an alternative of a needed migration is applied, when a lower version has
 * alternatives none of which is applied, or when a migration to run cannot run inside its transaction.
 */
export function planMigrate(
  all: readonly Migration[],
  appliedIds: Iterable<string>,
  targetId: string,
): Migration[] {
  const applied = new Set(appliedIds);
  const target = findTarget(all, targetId);
  const plan: Migration[] = [];

  for (const group of byVersion(all)) {
    const order = compareVersions(group[0].version, target.version);
    if (order > 0) break;
    let chosen: Migration;
    if (order === 0) {
      chosen = target;
    } else if (group.length === 1) {
      chosen = group[0];
    } else {
      const appliedOne = group.filter((m) => applied.has(m.id));
      if (appliedOne.length === 0) {
        throw new LabError(
          `Version ${group[0].version} has alternatives (${group.map((m) => m.id).join(', ')}); ` +
            `apply one of them before ${target.id}.`,
        );
      }
      chosen = appliedOne[0];
    }
    if (applied.has(chosen.id)) continue;
    const rival = group.find((m) => m !== chosen && applied.has(m.id));
    if (rival) {
      const below = highestAppliedBelow(all, applied, chosen.version);
      const rollBack = below ? `roll back to ${below.id}` : `roll back ${rival.id}`;
      throw new LabError(`${rival.id} is applied; ${rollBack} before applying ${chosen.id}.`);
    }
    plan.push(chosen);
  }

  for (const m of plan) {
    if (m.up.transactionConflict) throw new LabError(m.up.transactionConflict);
  }
  return plan;
}

function highestAppliedBelow(
  all: readonly Migration[],
  applied: ReadonlySet<string>,
  version: string,
): Migration | undefined {
  return all
    .filter((m) => applied.has(m.id) && compareVersions(m.version, version) < 0)
    .sort((a, b) => compareVersions(b.version, a.version))[0];
}

/**
 * The applied migrations to roll back, newest first, so that nothing newer than `targetId` stays
 * applied (`null`: roll back everything). The target itself stays applied.
 */
export function planRollback(
  all: readonly Migration[],
  appliedIds: Iterable<string>,
  targetId: string | null,
): Migration[] {
  const applied = new Set(appliedIds);
  let floor: string | undefined;
  if (targetId !== null) {
    const target = findTarget(all, targetId);
    if (!applied.has(target.id)) {
      throw new LabError(`${target.id} is not applied, so there is nothing to roll back to.`);
    }
    floor = target.version;
  }

  const known = new Map(all.map((m) => [m.id, m]));
  const newer = [...applied]
    .filter((id) => floor === undefined || compareVersions(versionOrZero(id), floor) > 0)
    .sort((a, b) => compareVersions(versionOrZero(b), versionOrZero(a)) || (a < b ? 1 : a > b ? -1 : 0));

  const plan: Migration[] = [];
  for (const id of newer) {
    const m = known.get(id);
    if (!m) throw new LabError(`${id} is applied but its file is missing, so it cannot be rolled back.`);
    if (!m.down) {
      throw new LabError(`${m.fileName} has no \`-- migrate:down\` section, so it cannot be rolled back.`);
    }
    if (m.down.transactionConflict) throw new LabError(m.down.transactionConflict);
    plan.push(m);
  }
  return plan;
}

function versionOrZero(id: string): string {
  return versionOf(id) || '0';
}
