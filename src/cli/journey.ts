import { CancelledError, LabError, describeError } from '../core/errors';
import type { Lab } from '../core/lab';
import { DEMO_SCENARIO, comparedKind } from '../core/scenarios/demo';
import {
  LESSON_NAMES,
  lessonProblems,
  runAllLessons,
  type LessonContext,
  type LessonResult,
} from '../core/lessons';
import type { Logger } from '../core/log';
import type { MigrationRunKind, RecordedRun } from '../core/monitor/recorder';
import { formatMs } from '../core/monitor/verdict';
import { MonitorSession } from '../core/monitorSession';
import type { DemoOptions } from './args';
import type { Progress } from './console';
import { formatCount } from './format';
import { LESSON_TITLES, lessonShortfall } from './lessons';
import { dataDirectory, portIsFree, trimProbeRows } from './housekeeping';

/** Probe requests per second, each (reads and writes), as the design's sampler default. */
export const PROBE_RATE = 10;
/** Seeding progress is printed at most this often. */
const SEED_PROGRESS_EVERY_MS = 1_000;
/** While a migration runs, a live line this often. */
const LIVE_EVERY_MS = 1_000;

/** Everything the steps share; steps fill in what later steps need. */
export interface JourneyContext {
  readonly options: DemoOptions;
  readonly lab: Lab;
  readonly schema: string;
  readonly logger: Logger;
  readonly progress: Progress;
  /** Aborted by Ctrl-C: every step passes it down so the work in progress is cancelled. */
  readonly signal: AbortSignal;
  session?: MonitorSession;
  /** The cluster's data folder (after the start step). */
  dataDir?: string;
  /** The server's version string, for the report (the lab forgets it when it stops). */
  serverVersion?: string;
  /** Runs recorded by the observed steps, in order. */
  readonly runs: RecordedRun[];
  /** The demo's migrations folder (DEMO_SCENARIO.source). */
  readonly migrationsDir: string;
  /** The lesson migrations folder (migrations-lessons/). */
  readonly lessonsDir: string;
  /** Results of the lessons step (--lessons), in order, as each lesson finishes. */
  readonly lessons: LessonResult[];
}

/** One named step of a journey. The demo is one list of steps; `--lessons` is another. */
export interface Step {
  title: string | ((ctx: JourneyContext) => string);
  run(ctx: JourneyContext): Promise<void>;
}

export interface StepResult {
  title: string;
  outcome: 'done' | 'failed' | 'cancelled';
  durationMs: number;
  error?: string;
}

/**
 * Runs `steps` in order, printing "[i/n] title" for each and appending to `results` as it goes.
 * Stops at the first failure and rethrows it (a CancelledError when the signal was aborted).
 */
export async function runSteps(steps: readonly Step[], ctx: JourneyContext, results: StepResult[]) {
  for (const [i, step] of steps.entries()) {
    const title = typeof step.title === 'function' ? step.title(ctx) : step.title;
    if (ctx.signal.aborted) throw new CancelledError();
    ctx.progress.step(i + 1, steps.length, title);
    ctx.logger.info(`Step ${i + 1}/${steps.length}: ${title}`);
    const t0 = Date.now();
    try {
      await step.run(ctx);
      results.push({ title, outcome: 'done', durationMs: Date.now() - t0 });
    } catch (e) {
      const cancelled = ctx.signal.aborted || e instanceof CancelledError;
      results.push({
        title,
        outcome: cancelled ? 'cancelled' : 'failed',
        durationMs: Date.now() - t0,
        error: e instanceof Error ? e.message : String(e),
      });
      ctx.logger.error(`Step "${title}" ${cancelled ? 'was cancelled' : 'failed'}: ${describeError(e)}`);
      throw cancelled && !(e instanceof CancelledError) ? new CancelledError() : e;
    }
  }
}

function requireSession(ctx: JourneyContext): MonitorSession {
  if (!ctx.session) throw new LabError('The lock monitor and the probes are not running.');
  return ctx.session;
}

function probePortTaken(port: number): LabError {
  return new LabError(
    `Port ${port} is already in use, so the probe endpoint cannot start; stop what uses it or pass another port with --probe-port.`,
  );
}

// ---------------------------------------------------------------------------------------------------
// The demo's steps

export const startPostgres: Step = {
  title: (ctx) => `Starting the embedded PostgreSQL on 127.0.0.1:${ctx.options.port}`,
  async run(ctx) {
    const { options, lab, schema, logger } = ctx;
    // The probe port is checked now, so a taken one fails before minutes of seeding, not after.
    if (!(await portIsFree(options.probePort))) throw probePortTaken(options.probePort);
    try {
      await lab.start(
        { provider: 'embedded', port: options.port, schema, postgresVersion: options.pg },
        ctx.signal,
      );
    } catch (e) {
      if (e instanceof LabError && /already in use/.test(e.message)) {
        throw new LabError(
          `Port ${options.port} is already in use, so PostgreSQL cannot start; stop what uses it or pass another port with --port.`,
          { cause: e },
        );
      }
      throw e;
    }
    ctx.dataDir = await dataDirectory(lab.connection!, logger).catch(() => undefined);
    ctx.serverVersion = lab.state.serverVersion;
    ctx.progress.detail(
      `PostgreSQL ${lab.state.serverVersion ?? ''} is up${ctx.dataDir ? `; data in ${ctx.dataDir}` : ''}`,
    );
  },
};

/** Undoes what an interrupted earlier run may have left: an applied 0002, a stray index, probe rows. */
export const repairLeftovers: Step = {
  title: 'Checking for leftovers of an earlier run',
  async run(ctx) {
    const { lab, schema, logger, progress, options } = ctx;
    const target = lab.connection!;
    const applied = lab.state.migrations.filter((m) => m.applied && comparedKind(m.id) !== 'other');
    let found = false;
    if (applied.length > 0) {
      found = true;
      progress.detail(
        `${applied.map((m) => m.id).join(', ')} is still applied; rolling back to ${DEMO_SCENARIO.initial}`,
      );
      await lab.rollbackTo(DEMO_SCENARIO.initial, { signal: ctx.signal });
    } else {
      // The Lab already did this when it started (and said so); again here in case that check failed.
      const repaired = await lab.repairLeftoverIndex();
      if (repaired) {
        found = true;
        progress.detail(repaired);
      }
    }
    const trimmed = await trimProbeRows(target, schema, options.rows, logger);
    if (trimmed > 0) {
      found = true;
      progress.detail(`deleted ${formatCount(trimmed)} rows the write probe inserted in earlier runs`);
    }
    if (!found) progress.detail('none');
  },
};

export const seed: Step = {
  title: (ctx) =>
    `Seeding ${DEMO_SCENARIO.seed.large} with ${formatCount(ctx.options.rows)} rows (resumable)`,
  async run(ctx) {
    const { lab, options, progress } = ctx;
    let lastPrinted = 0;
    let lastPhase = '';
    const result = await lab.seed(options.rows, {
      signal: ctx.signal,
      onProgress: (p) => {
        const now = Date.now();
        const phaseChanged = p.phase !== lastPhase;
        lastPhase = p.phase;
        if (p.phase === 'vacuum' && phaseChanged) {
          progress.detail('VACUUM ANALYZE');
          return;
        }
        if (p.phase !== 'large') return;
        if (!phaseChanged && now - lastPrinted < SEED_PROGRESS_EVERY_MS && p.done < p.total) return;
        lastPrinted = now;
        const pct = p.total > 0 ? Math.floor((p.done / p.total) * 100) : 100;
        progress.detail(`${pct}% (${formatCount(p.done)} of ${formatCount(p.total)} rows)`);
      },
    });
    progress.detail(
      `${formatCount(result.largeRows)} rows ready in ${formatMs(result.durationMs)} (${
        result.inserted === 0 ? 'all already there' : `${formatCount(result.inserted)} inserted`
      })`,
    );
  },
};

export const startMonitor: Step = {
  title: `Starting the lock monitor and the probes (${PROBE_RATE} reads + ${PROBE_RATE} writes per second)`,
  async run(ctx) {
    const { lab, schema, logger, options, progress } = ctx;
    const session = new MonitorSession({
      target: lab.connection!,
      schema,
      logger,
      probePort: options.probePort,
      probeRate: PROBE_RATE,
    });
    ctx.session = session;
    session.startMonitor();
    try {
      const url = await session.startProbe();
      progress.detail(
        `probing ${new URL('/list_large/', url).href} and ${new URL('/insert_large/', url).href}`,
      );
    } catch (e) {
      if (e instanceof LabError && /already in use/.test(e.message)) throw probePortTaken(options.probePort);
      throw e;
    }
  },
};

/** One line every second while a migration runs: the build phase and who waits. */
function liveTicker(ctx: JourneyContext, session: MonitorSession, startedAt: number): () => void {
  const timer = setInterval(() => {
    const snap = session.latestLocks;
    const parts = [`${Math.round((Date.now() - startedAt) / 1000)} s`];
    const build = snap?.progress.find((p) => p.role === 'migration') ?? snap?.progress[0];
    if (build) parts.push(`${build.phase}${build.percent !== null ? ` ${Math.round(build.percent)}%` : ''}`);
    const waiting = snap?.locks.filter((l) => !l.granted && l.role.startsWith('probe')) ?? [];
    const writes = new Set(waiting.filter((l) => l.role === 'probe-write').map((l) => l.pid)).size;
    const reads = new Set(waiting.filter((l) => l.role === 'probe-read').map((l) => l.pid)).size;
    parts.push(
      `${writes} write${writes === 1 ? '' : 's'} and ${reads} read${reads === 1 ? '' : 's'} waiting`,
    );
    ctx.progress.detail(parts.join(', '));
  }, LIVE_EVERY_MS);
  return () => clearInterval(timer);
}

/** Runs one migration while the session records it. */
export function observedRun(migration: string, kind: MigrationRunKind, what: string): Step {
  return {
    title: `Running ${migration} (${what}) while recording`,
    async run(ctx) {
      const session = requireSession(ctx);
      const stop = liveTicker(ctx, session, Date.now());
      let observed: Awaited<ReturnType<MonitorSession['observe']>>;
      try {
        observed = await session.observe(migration, kind, (opts) => ctx.lab.migrateTo(migration, opts), {
          signal: ctx.signal,
        });
      } finally {
        stop();
      }
      const { recorded, error } = observed;
      ctx.runs.push(recorded);
      if (error !== undefined) {
        // The runner's cancel message says what the migration left behind (e.g. an INVALID index): keep it.
        if (error instanceof CancelledError) throw error;
        if (ctx.signal.aborted) throw new CancelledError();
        if (error instanceof LabError) throw error;
        throw new LabError(`${migration} failed: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        });
      }
      ctx.progress.detail(
        `${recorded.outcome} in ${formatMs(recorded.durationMs)}; locks held: ${recorded.locksHeld.join(', ') || 'none seen'}`,
      );
    },
  };
}

export const rollBack: Step = {
  title: `Rolling back to ${DEMO_SCENARIO.initial}`,
  async run(ctx) {
    const result = await ctx.lab.rollbackTo(DEMO_SCENARIO.initial, { signal: ctx.signal });
    const undone = result.migrations.map((m) => m.id);
    ctx.progress.detail(undone.length > 0 ? `rolled back ${undone.join(', ')}` : 'nothing to roll back');
  },
};

/** The whole journey of the design (steps 1 to 7), headless. */
export function demoSteps(): Step[] {
  return [
    startPostgres,
    repairLeftovers,
    seed,
    startMonitor,
    observedRun(DEMO_SCENARIO.compared.locking, 'locking', 'plain CREATE INDEX, in a transaction'),
    rollBack,
    observedRun(DEMO_SCENARIO.compared.concurrent, 'concurrent', 'CREATE INDEX CONCURRENTLY'),
    rollBack,
  ];
}

// ---------------------------------------------------------------------------------------------------
// --lessons

/** The four lessons (runAllLessons) on the demo's session, after checking that none can fail on the lab's state. */
export const runLessons: Step = {
  title: `Running the ${LESSON_NAMES.length} lessons (${LESSON_NAMES.join(', ')})`,
  async run(ctx) {
    const session = requireSession(ctx);
    const lessonCtx: LessonContext = {
      target: ctx.lab.connection!,
      schema: ctx.schema,
      logger: ctx.logger,
      signal: ctx.signal,
      migrationsDir: ctx.migrationsDir,
      lessonsDir: ctx.lessonsDir,
      session,
    };
    const problems = await lessonProblems(lessonCtx);
    if (problems.length > 0) throw new LabError(`The lessons cannot run: ${problems.join(' ')}`);
    const t0 = Date.now();
    let last = t0;
    const announce = (index: number) => {
      const name = LESSON_NAMES[index];
      if (name) ctx.progress.detail(`${index + 1}/${LESSON_NAMES.length} ${name} — ${LESSON_TITLES[name]}…`);
    };
    announce(0);
    await runAllLessons(lessonCtx, {
      lockTimeout: {
        onAttempt: (a) =>
          ctx.progress.detail(
            `    attempt ${a.n}: ${
              a.outcome === 'timeout'
                ? `gave up after ${formatMs(a.durationMs)} (${a.sqlstate ?? 'lock timeout'}), as expected`
                : a.outcome === 'succeeded'
                  ? `succeeded in ${formatMs(a.durationMs)}`
                  : `failed${a.sqlstate ? ` (${a.sqlstate})` : ''}`
            }${a.delayAfterMs !== undefined ? `; retrying in ${formatMs(a.delayAfterMs)}` : ''}`,
          ),
      },
      onLesson: (r) => {
        ctx.lessons.push(r);
        const now = Date.now();
        const shortfall = lessonShortfall(r);
        ctx.progress.detail(
          `    ${shortfall ? `not observed (${shortfall})` : 'observed'} in ${formatMs(now - last)}`,
        );
        last = now;
        announce(ctx.lessons.length);
      },
    });
    ctx.progress.detail(`all ${LESSON_NAMES.length} lessons ran in ${formatMs(Date.now() - t0)}`);
  },
};

/** --lessons: PostgreSQL, no 0002 applied, seeded, monitor and probes, then the four lessons. */
export function lessonsSteps(): Step[] {
  return [startPostgres, repairLeftovers, seed, startMonitor, runLessons];
}
