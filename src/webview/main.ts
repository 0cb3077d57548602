/**
 * The Lock Monitor panel. Draws what the host measured; it computes nothing it could be wrong about.
 * State survives hide/show and reloads through the webview state (setState/getState).
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './panel.css';
import type { BlockingChain, IndexProgress, LockRow } from '../core/monitor/lockMonitor';
import type { RecordedRun } from '../core/monitor/recorder';
import type { KindStats } from '../core/probe/stats';
import type { LessonResult } from '../core/lessons/types';
import type { FromWebview, PanelAction, PanelState, ToWebview } from './protocol';

interface VsCodeApi {
  postMessage(message: FromWebview): void;
  getState(): { state?: PanelState } | undefined;
  setState(state: { state: PanelState }): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const WINDOW_S = 60;
const STALL_MS = 1000;

let state: PanelState | undefined = vscode.getState()?.state;
let chart: uPlot | undefined;

function esc(text: unknown): string {
  return String(text ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

function byId<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

// ---- buttons ----

function send(action: PanelAction, index?: string): void {
  vscode.postMessage({ type: 'action', action, ...(index !== undefined ? { index } : {}) });
}

document
  .querySelectorAll<HTMLButtonElement>('button[data-action]')
  .forEach((b) => b.addEventListener('click', () => send(b.dataset.action as PanelAction)));

function renderButtons(s: PanelState): void {
  const running = s.lab.database === 'running';
  const busy = s.lab.running !== undefined;
  const indexApplied = s.lab.applied.some((id) => id.startsWith('0002_'));
  const lessonBusy = s.liveLesson !== null;
  const enable: Record<PanelAction, boolean> = {
    runLocking: running && !busy && !lessonBusy && !indexApplied,
    rollback: running && !busy && !lessonBusy && indexApplied,
    runConcurrent: running && !busy && !lessonBusy && !indexApplied,
    cancel: busy,
    startProbe: running && !s.probe.running,
    // Stopping the probe mid-run would leave the run's verdict without latency.
    stopProbe: s.probe.running && s.live === null && !lessonBusy,
    exportReport: s.runs.length > 0,
    openTerminal: running,
    lessonLockQueue: running && !busy && !lessonBusy && s.lab.seeded,
    lessonLockTimeout: running && !busy && !lessonBusy && s.lab.seeded,
    lessonConcurrentWaits: running && !busy && !lessonBusy && s.lab.seeded && !indexApplied,
    lessonFailedConcurrently: running && !busy && !lessonBusy && s.lab.seeded,
    startSlowReport: running && s.slowReportPid === null,
    endSlowReport: s.slowReportPid !== null,
    dropInvalidIndex: running && !busy && s.lab.invalidIndexes.length > 0,
  };
  document.querySelectorAll<HTMLButtonElement>('button[data-action]').forEach((b) => {
    b.disabled = !enable[b.dataset.action as PanelAction];
  });
}

// ---- header ----

function renderHeader(s: PanelState): void {
  const lab = s.lab;
  const db =
    lab.database === 'running'
      ? `PostgreSQL ${esc(lab.serverVersion)} · large_email ≈ ${(lab.largeRows ?? 0).toLocaleString('en-US')} rows`
      : `PostgreSQL ${esc(lab.database)}`;
  const probe = s.probe.running ? `probe on ${esc(s.probe.url)}` : 'probe off';
  const monitor = s.monitor
    ? `monitor ${esc(s.monitor.state)}${s.monitor.error ? `: ${esc(s.monitor.error)}` : ''}`
    : '';
  byId('status').innerHTML = `<span>${db}</span><span>${probe}</span><span>${monitor}</span>`;
  const live = s.live;
  const banner = byId('live');
  if (live) {
    const secs = ((Date.now() - live.startedAt) / 1000).toFixed(1);
    banner.hidden = false;
    banner.textContent = `Running ${live.migration}${live.pid ? ` (pid ${live.pid})` : ''} for ${secs} s`;
  } else {
    banner.hidden = true;
  }
}

// ---- latency chart ----

function makeChart(): uPlot {
  const el = byId('chart');
  const read = cssVar('--vscode-charts-blue', '#3794ff');
  const write = cssVar('--vscode-charts-orange', '#d18616');
  const fg = cssVar('--vscode-foreground', '#ccc');
  const grid = cssVar('--vscode-editorWidget-border', 'rgba(128,128,128,0.3)');
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
  const opts: uPlot.Options = {
    width: Math.max(300, el.clientWidth),
    height: 220,
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      y: { distr: 3, range: (_u, min, max) => [Math.min(1, min || 1), Math.max(2000, max || 1)] },
    },
    axes: [axis, { ...axis, label: 'latency (ms, log)', values: (_u, vals) => vals.map((v) => ms(v)) }],
    series: [
      {},
      {
        label: 'reads',
        stroke: read,
        fill: undefined,
        paths: () => null,
        points: { show: true, size: 4, fill: read },
      },
      { label: 'writes', stroke: write, paths: () => null, points: { show: true, size: 4, fill: write } },
    ],
    hooks: { drawClear: [(u) => shadeWindows(u)] },
  };
  return new uPlot(opts, [[], [], []], el);
}

/** Shades migration windows (recorded and live) and the band above the stall threshold. */
function shadeWindows(u: uPlot): void {
  if (!state) return;
  const ctx = u.ctx;
  const { top, height, left, width } = u.bbox;
  ctx.save();
  const yStall = u.valToPos(STALL_MS, 'y', true);
  ctx.fillStyle = cssVar('--vscode-inputValidation-errorBackground', 'rgba(255,0,0,0.08)');
  ctx.globalAlpha = 0.35;
  if (yStall > top) ctx.fillRect(left, top, width, Math.max(0, yStall - top));
  ctx.globalAlpha = 0.18;
  ctx.fillStyle = cssVar('--vscode-charts-purple', '#b180d7');
  const windows = state.runs.map((r) => [r.startedAt, r.endedAt, r.migration] as const);
  if (state.live) windows.push([state.live.startedAt, Date.now(), state.live.migration]);
  for (const [from, to] of windows) {
    const x0 = Math.max(left, u.valToPos(from / 1000, 'x', true));
    const x1 = Math.min(left + width, u.valToPos(to / 1000, 'x', true));
    if (x1 > x0) ctx.fillRect(x0, top, x1 - x0, height);
  }
  ctx.globalAlpha = 1;
  ctx.strokeStyle = cssVar('--vscode-charts-purple', '#b180d7');
  ctx.setLineDash([4, 3]);
  for (const [from, to] of windows) {
    for (const t of [from, to]) {
      const x = u.valToPos(t / 1000, 'x', true);
      if (x < left || x > left + width) continue;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
    }
  }
  ctx.restore();
}

function renderChart(s: PanelState): void {
  chart ??= makeChart();
  const points = s.latency?.points ?? [];
  const now = (s.latency?.at ?? Date.now()) / 1000;
  const xs: number[] = [];
  const reads: (number | null)[] = [];
  const writes: (number | null)[] = [];
  for (const p of [...points].sort((a, b) => a.t - b.t)) {
    xs.push(p.t / 1000);
    const v = Math.max(1, p.latencyMs);
    reads.push(p.kind === 'read' ? v : null);
    writes.push(p.kind === 'write' ? v : null);
  }
  chart.batch(() => {
    chart!.setData([xs, reads, writes], false);
    chart!.setScale('x', { min: now - WINDOW_S, max: now });
  });
  const stats = s.latency;
  byId('latency-stats').innerHTML = stats
    ? statsTable([
        ['reads', stats.read],
        ['writes', stats.write],
      ])
    : '<p class="muted">Start the probe to measure read and write latency.</p>';
}

function statsTable(rows: [string, KindStats][]): string {
  const body = rows
    .map(
      ([name, k]) =>
        `<tr class="${k.stalled > 0 ? 'stalled' : ''}"><th scope="row">${name}</th><td>${k.count}</td><td>${k.inFlight}</td><td>${ms(k.p50Ms)}</td><td>${ms(k.p95Ms)}</td><td>${ms(k.maxMs)}</td><td>${k.stalled}</td><td>${k.errors + k.timeouts}</td></tr>`,
    )
    .join('');
  return `<table class="stats"><thead><tr><th></th><th>done</th><th>in flight</th><th>p50</th><th>p95</th><th>max</th><th>stalled &gt; 1 s</th><th>errors</th></tr></thead><tbody>${body}</tbody></table>`;
}

// ---- locks, chains, progress ----

function renderLocks(s: PanelState): void {
  const locks = s.locks?.locks ?? [];
  const rows = [...locks].sort((a, b) => Number(a.granted) - Number(b.granted) || a.pid - b.pid);
  byId('locks').innerHTML =
    rows.length === 0
      ? '<p class="muted">No locks on the lab tables right now.</p>'
      : `<table class="locks"><thead><tr><th>pid</th><th>role</th><th>relation</th><th>mode</th><th>granted</th><th>waiting</th><th>blocked by</th><th>query</th></tr></thead><tbody>${rows.map(lockRow).join('')}</tbody></table>`;
  renderChains(s.locks?.blockingChains ?? []);
  renderProgress(s.locks?.progress ?? []);
}

function lockRow(l: LockRow): string {
  return `<tr class="${l.granted ? '' : 'waiting'}" data-role="${esc(l.role)}"><td>${l.pid}</td><td><span class="role role-${esc(l.role)}">${esc(l.role)}</span></td><td>${esc(l.relation ?? `${l.locktype} ${l.target ?? ''}`)}</td><td>${esc(l.mode)}</td><td>${l.granted ? 'yes' : '<strong>no</strong>'}</td><td>${l.granted ? '' : ms(l.waitingMs)}</td><td>${esc(l.blockedBy.join(', '))}</td><td class="query" title="${esc(l.query)}">${esc(l.query)}</td></tr>`;
}

function renderChains(chains: BlockingChain[]): void {
  byId('chains').innerHTML =
    chains.length === 0
      ? '<p class="muted">Nobody is waiting.</p>'
      : `<ul class="chains">${chains
          .map(
            (c) =>
              `<li class="chain"><span class="role role-${esc(c.waiterRole)}">${esc(c.waiterRole)} ${c.waiterPid}</span> waits ${ms(c.waitingMs)} for <code>${esc(c.mode)}</code> → ${c.blockerPids
                .map(
                  (p, i) =>
                    `<span class="role role-${esc(c.blockerRoles[i] ?? 'other')}">${esc(c.blockerRoles[i] ?? 'other')} ${p}</span>`,
                )
                .join(', ')}</li>`,
          )
          .join('')}</ul>`;
}

function renderProgress(progress: IndexProgress[]): void {
  byId('progress').innerHTML =
    progress.length === 0
      ? '<p class="muted">No index build in progress.</p>'
      : progress
          .map((p) => {
            const pct = p.percent === null ? null : Math.round(p.percent);
            const counters =
              p.blocksTotal > 0
                ? `blocks ${p.blocksDone.toLocaleString('en-US')} / ${p.blocksTotal.toLocaleString('en-US')}`
                : p.tuplesTotal > 0
                  ? `tuples ${p.tuplesDone.toLocaleString('en-US')} / ${p.tuplesTotal.toLocaleString('en-US')}`
                  : p.lockersTotal > 0
                    ? `lockers ${p.lockersDone} / ${p.lockersTotal}${p.currentLockerPid ? `, waiting for pid ${p.currentLockerPid}` : ''}`
                    : '';
            return `<div class="build"><div>${esc(p.command)} on ${esc(p.relation)} (pid ${p.pid}): <strong>${esc(p.phase)}</strong> ${counters}</div><div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${pct ?? 0}"><div data-pct="${pct ?? 0}"></div></div></div>`;
          })
          .join('');
  // Widths through the CSSOM: the CSP allows no inline style attributes.
  byId('progress')
    .querySelectorAll<HTMLElement>('[data-pct]')
    .forEach((el) => (el.style.width = `${el.dataset.pct}%`));
}

// ---- runs ----

function summary(l: RecordedRun['reads']): string {
  return l
    ? `p50 ${ms(l.p50Ms)} · p95 ${ms(l.p95Ms)} · max ${ms(l.maxMs)} · ${l.stalled} stalled`
    : 'not probed';
}

function renderRuns(s: PanelState): void {
  byId('runs').innerHTML =
    s.runs.length === 0
      ? '<p class="muted">No runs yet. Start the probe, then run a migration.</p>'
      : [...s.runs]
          .reverse()
          .map(
            (r) =>
              `<article class="verdict verdict-${esc(r.outcome)}" tabindex="0"><h3>${esc(r.migration)} <small>${esc(r.kind)} · ${esc(r.outcome)} · ${ms(r.durationMs)}</small></h3><p>${esc(r.verdict)}</p><dl><dt>reads</dt><dd>${summary(r.reads)}</dd><dt>writes</dt><dd>${summary(r.writes)}</dd><dt>locks held</dt><dd>${esc(r.locksHeld.join('; ') || '–')}</dd><dt>max waiters</dt><dd>${r.maxWaiters}</dd><dt>phases</dt><dd>${esc(r.phases.join(' → ') || '–')}</dd></dl></article>`,
          )
          .join('');
  // The demo's own completed runs only (as the host's comparison line): a lesson's scene is no fair pair.
  const comparable = s.runs.filter((r) => !r.lesson && r.outcome === 'succeeded').reverse();
  const locking = comparable.find((r) => r.kind === 'locking');
  const concurrent = comparable.find((r) => r.kind === 'concurrent');
  const pair = [locking, concurrent].filter((r): r is RecordedRun => r !== undefined);
  byId('comparison').innerHTML =
    pair.length < 2
      ? '<p class="muted">Run both index migrations to compare them.</p>'
      : `<table class="compare"><thead><tr><th></th>${pair.map((r) => `<th>${esc(r.migration)}</th>`).join('')}</tr></thead><tbody>${[
          ['duration', (r: RecordedRun) => ms(r.durationMs)],
          [
            'reads p50 / p95 / max',
            (r: RecordedRun) =>
              r.reads ? `${ms(r.reads.p50Ms)} / ${ms(r.reads.p95Ms)} / ${ms(r.reads.maxMs)}` : '–',
          ],
          [
            'writes p50 / p95 / max',
            (r: RecordedRun) =>
              r.writes ? `${ms(r.writes.p50Ms)} / ${ms(r.writes.p95Ms)} / ${ms(r.writes.maxMs)}` : '–',
          ],
          [
            'requests stalled > 1 s',
            (r: RecordedRun) => String((r.reads?.stalled ?? 0) + (r.writes?.stalled ?? 0)),
          ],
          ['locks held', (r: RecordedRun) => esc(r.locksHeld.join('; '))],
          ['max waiters', (r: RecordedRun) => String(r.maxWaiters)],
        ]
          .map(
            ([label, f]) =>
              `<tr><th scope="row">${label as string}</th>${pair.map((r) => `<td>${(f as (r: RecordedRun) => string)(r)}</td>`).join('')}</tr>`,
          )
          .join('')}</tbody></table>${s.comparison ? `<p class="conclusion">${esc(s.comparison)}</p>` : ''}`;
}

// ---- lessons ----

const LESSON_TITLES: Record<LessonResult['name'], string> = {
  'lock-queue': 'The lock-queue trap',
  'lock-timeout': 'lock_timeout with retries',
  'concurrent-waits': 'CONCURRENTLY waits for old transactions',
  'failed-concurrently': 'A failed CONCURRENTLY build',
};

/** The few observed facts each lesson card lists (the verdict says the rest). */
function lessonFacts(r: LessonResult): [string, string][] {
  switch (r.name) {
    case 'lock-queue':
      return [
        ['reads waited behind the ALTER', r.observed.readsWaitedBehindDdl ? 'yes' : 'no'],
        ['worst read', ms(r.observed.maxReadStallMs)],
        [
          'chain',
          r.observed.chain
            ? `read ${r.observed.chain.readerPid} → ALTER ${r.observed.chain.ddlPid} → transaction ${r.observed.chain.blockerPid}`
            : '–',
        ],
      ];
    case 'lock-timeout':
      return [
        ['attempts', `${r.observed.attempts} (${r.observed.timeouts} timed out with 55P03)`],
        [
          'each attempt',
          r.observed.attemptLog
            .map(
              (a) =>
                `#${a.n} ${a.outcome}${a.sqlstate ? ` ${a.sqlstate}` : ''} after ${ms(a.durationMs)}${a.delayAfterMs !== undefined ? `, then waited ${ms(a.delayAfterMs)}` : ''}`,
            )
            .join('; '),
        ],
        ['succeeded', r.observed.succeeded ? 'yes' : 'no'],
        [
          'worst read',
          `${ms(r.observed.maxReadStallMs)} (without the timeout: ${ms(r.observed.withoutTimeoutMaxReadStallMs)})`,
        ],
      ];
    case 'concurrent-waits':
      return [
        ['waiting phase', r.observed.waitingPhaseSeen ?? '–'],
        ['waited for the slow report', r.observed.lockerPidMatched ? 'yes (current_locker_pid)' : 'no'],
        ['reads / writes during the wait', `${r.observed.readsDuringWait} / ${r.observed.writesDuringWait}`],
      ];
    case 'failed-concurrently':
      return [
        ['failed with', r.observed.failedWith ?? '–'],
        [
          'invalid index found',
          r.observed.invalidIndexDetected ? (r.observed.invalidIndex?.index ?? 'yes') : 'no',
        ],
        ['IF NOT EXISTS kept it', r.observed.ifNotExistsKeptInvalid ? 'yes' : 'no'],
        ['cleaned up', r.observed.cleanedUp ? 'yes' : 'no'],
      ];
  }
}

function renderLessons(s: PanelState): void {
  byId('slow-report').textContent =
    s.slowReportPid !== null
      ? `Slow report open (pid ${s.slowReportPid}): a transaction that read large_email and has not ended.`
      : s.liveLesson
        ? `Running the lesson "${LESSON_TITLES[s.liveLesson]}"…`
        : '';
  const invalid = byId('invalid');
  invalid.hidden = s.lab.invalidIndexes.length === 0;
  invalid.innerHTML = s.lab.invalidIndexes
    .map(
      (i) =>
        `<p><strong>Invalid index ${esc(i.index)}</strong> on ${esc(i.table)}: left by a failed or cancelled CONCURRENTLY build. The planner never uses it; ${i.indisready ? 'writes still maintain it' : 'it is not ready, so writes skip it, but its name is taken'}. <button type="button" data-invalid="${esc(i.index)}">Drop it concurrently and retry</button></p>`,
    )
    .join('');
  invalid
    .querySelectorAll<HTMLButtonElement>('button[data-invalid]')
    .forEach((b) => b.addEventListener('click', () => send('dropInvalidIndex', b.dataset.invalid)));
  byId('lessons').innerHTML = s.lessons
    .map(
      (r) =>
        `<article class="verdict lesson" data-lesson="${esc(r.name)}" tabindex="0"><h3>${esc(LESSON_TITLES[r.name])}</h3><p>${esc(r.verdict)}</p><dl>${lessonFacts(
          r,
        )
          .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`)
          .join('')}</dl></article>`,
    )
    .join('');
}

// ---- state ----

function render(): void {
  if (!state) return;
  renderHeader(state);
  renderButtons(state);
  renderChart(state);
  renderLocks(state);
  renderLessons(state);
  renderRuns(state);
}

let saveTimer: number | undefined;
function save(): void {
  // Throttled: the chart's points change five times a second.
  if (saveTimer !== undefined) return;
  saveTimer = window.setTimeout(() => {
    saveTimer = undefined;
    if (state) vscode.setState({ state });
  }, 1000);
}

window.addEventListener('message', (event: MessageEvent<ToWebview>) => {
  const m = event.data;
  switch (m.type) {
    case 'state':
      state = m.state;
      break;
    case 'locks':
      if (state) state.locks = m.locks;
      break;
    case 'latency':
      if (state) state.latency = m.latency;
      break;
    case 'patch':
      if (state) state = { ...state, ...m.patch };
      break;
    case 'reveal': {
      const el = byId(
        m.section === 'comparison'
          ? 'comparison-section'
          : m.section === 'locks'
            ? 'locks-section'
            : 'runs-section',
      );
      el.scrollIntoView({ behavior: 'smooth', block: 'start' });
      el.classList.add('flash');
      window.setTimeout(() => el.classList.remove('flash'), 1500);
      break;
    }
  }
  render();
  save();
});

window.addEventListener('resize', () =>
  chart?.setSize({ width: Math.max(300, byId('chart').clientWidth), height: 220 }),
);

render(); // what the last session showed, until the host answers
vscode.postMessage({ type: 'ready' });
