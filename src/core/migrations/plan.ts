import { LabError } from '../errors';
import { compareVersions } from './model';
import { sortMigrations, type Migration } from './runnerMigrations';

/**
 * Pure planning over a list of migrations and the ids recorded as applied. Alternatives are named by
 * the caller (a scenario's compared migrations, e.g. a plain and a CONCURRENTLY build of one index):
 * at most one of a set may be applied at a time. Migrations that merely share a version are not
 * alternatives; they apply in order (version, then id), as the tools do.
 */

/** Sets of migration ids of which at most one may be applied at a time. */
export type Alternatives = readonly (readonly string[])[];

/** The leading digits of an id ("0002_x" → "0002"); "" when there are none. */
export function versionOf(id: string): string {
  return /^\d+/.exec(id)?.[0] ?? '';
}

function findTarget(all: readonly Migration[], targetId: string): Migration {
  const target = all.find((m) => m.id === targetId);
  if (!target) throw new LabError(`There is no migration named ${targetId}.`);
  return target;
}

/** One group per migration, in order, except that each set of alternatives is one group (where its first member sorts). */
function groupsOf(all: readonly Migration[], alternatives: Alternatives): Migration[][] {
  const setOf = new Map<string, number>();
  alternatives.forEach((set, i) => set.forEach((id) => setOf.set(id, i)));
  const groups: Migration[][] = [];
  const bySet = new Map<number, Migration[]>();
  for (const m of sortMigrations(all)) {
    const set = setOf.get(m.id);
    const group = set === undefined ? undefined : bySet.get(set);
    if (group) {
      group.push(m);
      continue;
    }
    const made = [m];
    if (set !== undefined) bySet.set(set, made);
    groups.push(made);
  }
  return groups;
}

/**
 * The migrations to apply, in order, so that `targetId` and every migration before it (one of each set
 * of `alternatives`) are applied. Refuses when an alternative of a needed migration is applied, when an
 * earlier set of alternatives has none applied, or when a migration to run cannot run inside its
 * transaction.
 */
export function planMigrate(
  all: readonly Migration[],
  appliedIds: Iterable<string>,
  targetId: string,
  alternatives: Alternatives = [],
): Migration[] {
  const applied = new Set(appliedIds);
  const target = findTarget(all, targetId);
  const plan: Migration[] = [];

  for (const group of groupsOf(all, alternatives)) {
    let chosen: Migration;
    const isTarget = group.includes(target);
    if (isTarget) {
      chosen = target;
    } else if (group.length === 1) {
      chosen = group[0];
    } else {
      const appliedOne = group.filter((m) => applied.has(m.id));
      if (appliedOne.length === 0) {
        throw new LabError(
          `${group.map((m) => m.id).join(' and ')} are alternatives; apply one of them before ${target.id}.`,
        );
      }
      chosen = appliedOne[0];
    }
    if (!applied.has(chosen.id)) {
      const rival = group.find((m) => m !== chosen && applied.has(m.id));
      if (rival) {
        const below = highestAppliedBelow(all, applied, chosen.version);
        const rollBack = below ? `roll back to ${below.id}` : `roll back ${rival.id}`;
        throw new LabError(`${rival.id} is applied; ${rollBack} before applying ${chosen.id}.`);
      }
      plan.push(chosen);
    }
    if (isTarget) break;
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
