/**
 * The Lock Monitor panel. Draws what the host measured and decided; it computes nothing it could be wrong
 * about. Renders incrementally: a part is rewritten only when its content changed, and the static
 * controls and the run / lesson cards keep their nodes, so keyboard focus stays where the user put it.
 * State survives hide/show and reloads through the webview state (setState/getState), versioned.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './panel.css';
import type {
  FromWebview,
  IndexProgressDto,
  LatencyStatsDto,
  LockRowDto,
  PanelAction,
  PanelState,
  RunDto,
  SessionRoleDto,
  StatementMarkDto,
  ToWebview,
} from '../shared/protocol';
import {
  PANEL_STATE_VERSION,
  chainShapes,
  latencyChartLabel,
  ms,
  restoreSavedState,
  statementMarkText,
  waitersSubject,
  type SavedPanelState,
} from '../shared/model';

interface VsCodeApi {
  postMessage(message: FromWebview): void;
  getState(): unknown;
  setState(state: SavedPanelState | undefined): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();

let state: PanelState | undefined;
let chart: uPlot | undefined;
/** The body classes (theme kind) and the tables the chart was made for: either changing remakes it. */
let chartKey = '';
/** The statement mark under the pointer or the keyboard focus: drawn highlighted, its text shown. */
let activeMark: string | undefined;
let chainsExpanded = false;

function esc(text: unknown): string {
  return String(text ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

function byId<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

// ---- incremental DOM updates ----

const lastHtml = new WeakMap<Element, string>();
/** Replaces the element's content only when it differs from what was drawn last; true when it did. */
function setHtml(el: Element, html: string): boolean {
  if (lastHtml.get(el) === html) return false;
  lastHtml.set(el, html);
  el.innerHTML = html;
  return true;
}
function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}
function setAttr(el: Element, name: string, value: string | null): void {
  if (value === null) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}
function setHidden(el: HTMLElement, hidden: boolean): void {
  if (el.hidden !== hidden) el.hidden = hidden;
}

interface KeyedItem {
  key: string;
  tag: 'article' | 'p';
  className: string;
  html: string;
  focusable: boolean;
  attrs?: Record<string, string>;
}
/** Keeps one node per key (in the given order): a card the user focused stays the same node. */
function renderKeyed(container: HTMLElement, items: KeyedItem[]): void {
  const existing = new Map<string, HTMLElement>();
  for (const child of Array.from(container.children) as HTMLElement[]) {
    if (child.dataset.key !== undefined) existing.set(child.dataset.key, child);
    else child.remove();
  }
  let previous: Element | null = null;
  for (const item of items) {
    let el = existing.get(item.key);
    if (!el || el.tagName.toLowerCase() !== item.tag) {
      el?.remove();
      el = document.createElement(item.tag);
      el.dataset.key = item.key;
    }
    existing.delete(item.key);
    if (el.className !== item.className) el.className = item.className;
    setAttr(el, 'tabindex', item.focusable ? '0' : null);
    for (const [name, value] of Object.entries(item.attrs ?? {})) setAttr(el, name, value);
    setHtml(el, item.html);
    const expected: Element | null = previous ? previous.nextElementSibling : container.firstElementChild;
    if (expected !== el) container.insertBefore(el, expected);
    previous = el;
  }
  for (const el of existing.values()) el.remove();
}

// ---- theme colours ----

function isHighContrast(): boolean {
  const c = document.body.classList;
  return c.contains('vscode-high-contrast') || c.contains('vscode-high-contrast-light');
}

let probeContext: CanvasRenderingContext2D | null | undefined;
/** True when the CSS colour paints fully opaque (Light Modern's charts colours have 33 % alpha). */
function isOpaque(color: string): boolean {
  probeContext ??= document.createElement('canvas').getContext('2d', { willReadFrequently: true });
  if (!probeContext) return true;
  probeContext.clearRect(0, 0, 1, 1);
  probeContext.fillStyle = '#00000000';
  probeContext.fillStyle = color;
  probeContext.fillRect(0, 0, 1, 1);
  return probeContext.getImageData(0, 0, 1, 1).data[3] === 255;
}

/** The first of the theme variables that this theme defines as an opaque colour, else the fallback. */
function themeColor(names: string[], fallback: string): string {
  const style = getComputedStyle(document.body);
  for (const name of names) {
    const value = style.getPropertyValue(name).trim();
    if (value && isOpaque(value)) return value;
  }
  return fallback;
}

// ---- buttons ----

function send(action: PanelAction, index?: string): void {
  vscode.postMessage({ type: 'action', action, ...(index !== undefined ? { index } : {}) });
}

// One listener for every button, present and future (the invalid-index buttons come and go).
document.addEventListener('click', (event) => {
  const button = (event.target as Element | null)?.closest('button');
  if (!button || button.getAttribute('aria-disabled') === 'true') return;
  if (button.id === 'chains-toggle') {
    chainsExpanded = !chainsExpanded;
    safeRender();
  } else if (button.dataset.invalid !== undefined) {
    send('dropInvalidIndex', button.dataset.invalid);
  } else if (button.dataset.action !== undefined) {
    send(button.dataset.action as PanelAction);
  }
});

/** Enabled or not, with the host's reason as tooltip and accessible description; never leaves the Tab order. */
function setAvailability(button: HTMLElement, reason: string | null | undefined): void {
  const disabled = reason !== null;
  setAttr(button, 'aria-disabled', disabled ? 'true' : 'false');
  setAttr(button, 'title', disabled ? (reason ?? 'Not available now.') : null);
}

function renderButtons(s: PanelState): void {
  document.querySelectorAll<HTMLButtonElement>('button[data-action]').forEach((b) => {
    const action = b.dataset.action as PanelAction;
    setAvailability(b, s.buttons[action]);
  });
  // Start PostgreSQL is there while it is not running: the way out of a panel whose buttons all wait for it.
  const start = document.querySelector<HTMLElement>('button[data-action="startPostgres"]');
  const hideStart = s.lab.database === 'running' || s.lab.database === 'stopping';
  if (start && hideStart && document.activeElement === start) {
    // Hiding the focused button would drop focus to <body>: hand it to the next button first.
    document.querySelector<HTMLElement>('button[data-action="runLocking"]')?.focus();
  }
  if (start) setHidden(start, hideStart);
}

// ---- header ----

function renderHeader(s: PanelState): void {
  const lab = s.lab;
  const rows = s.watch.tables
    .filter((t) => t.rows !== undefined)
    .map((t) => `${esc(t.table)} ≈ ${t.rows!.toLocaleString('en-US')} rows`)
    .join(', ');
  const db =
    lab.database === 'running'
      ? `PostgreSQL ${esc(lab.serverVersion)}${rows ? ` · ${rows}` : ''}`
      : `PostgreSQL ${esc(lab.database)}`;
  const probe = s.probe.running ? `probe on ${esc(s.probe.url)}` : 'probe off';
  const monitor = s.monitor
    ? `monitor ${esc(s.monitor.state)}${s.monitor.error ? `: ${esc(s.monitor.error)}` : ''}`
    : '';
  setHtml(byId('status'), `<span>${db}</span><span>${probe}</span><span>${monitor}</span>`);
  const live = s.live;
  const banner = byId('live');
  setHidden(banner, !live);
  if (live) {
    const secs = ((Date.now() - live.startedAt) / 1000).toFixed(1);
    // The ticking seconds stay out of the live region: a screen reader announces the run once, not 5 times a second.
    setHtml(
      banner,
      `Running ${esc(live.migration)}${live.pid ? ` (pid ${live.pid})` : ''}<span aria-hidden="true"> for <span class="elapsed"></span> s</span>`,
    );
    setText(banner.querySelector<HTMLElement>('.elapsed')!, secs);
  }
}

// ---- latency chart ----

const AXIS_FONT_PX = 12;
const TICK_SIZE = 10;
const AXIS_GAP = 5;
let measureContext: CanvasRenderingContext2D | null | undefined;
/** The y axis as last laid out: room for the tick labels and the widest one (read by the UI tests). */
const yAxisLayout = { size: 0, widest: 0 };

function axisFont(): string {
  return `${AXIS_FONT_PX}px ${getComputedStyle(document.body).fontFamily || 'sans-serif'}`;
}

function textWidth(text: string, font: string): number {
  measureContext ??= document.createElement('canvas').getContext('2d');
  if (!measureContext) return text.length * AXIS_FONT_PX * 0.6;
  measureContext.font = font;
  return measureContext.measureText(text).width;
}

/** Opaque colours for the tables' series, each from variables every built-in theme defines (or a fallback). */
function tableColors(): string[] {
  return [
    themeColor(['--vscode-charts-blue', '--vscode-editorInfo-foreground'], '#3794ff'),
    themeColor(
      ['--vscode-charts-orange', '--vscode-editorWarning-foreground', '--vscode-editorError-foreground'],
      '#d18616',
    ),
    themeColor(['--vscode-charts-green', '--vscode-testing-iconPassed'], '#89d185'),
    themeColor(['--vscode-charts-red', '--vscode-editorError-foreground'], '#f14c4c'),
    themeColor(['--vscode-charts-yellow', '--vscode-editorWarning-foreground'], '#cca700'),
    themeColor(['--vscode-foreground'], '#cccccc'),
  ];
}

/**
 * The chart's series: reads and writes of each watched table. One table: reads in blue, writes in
 * orange (and a larger point). Several: one colour per table, reads as filled dots and writes as rings,
 * so both stay apart in every theme.
 */
function chartSeries(tables: readonly string[], hc: boolean): uPlot.Series[] {
  const colors = tableColors();
  if (tables.length === 1) {
    const [read, write] = [colors[0]!, colors[1]!];
    return [
      { label: 'reads', stroke: read, paths: () => null, points: { show: true, size: 4, fill: read } },
      {
        label: 'writes',
        stroke: write,
        paths: () => null,
        points: { show: true, size: 6, width: 1.5, fill: hc ? 'transparent' : write },
      },
    ];
  }
  return tables.flatMap((table, i): uPlot.Series[] => {
    const color = colors[i % colors.length]!;
    return [
      {
        label: `${table} reads`,
        stroke: color,
        paths: () => null,
        points: { show: true, size: 4, fill: color },
      },
      {
        label: `${table} writes`,
        stroke: color,
        paths: () => null,
        points: { show: true, size: 7, width: 1.5, fill: 'transparent' },
      },
    ];
  });
}

function makeChart(tables: readonly string[]): uPlot {
  const el = byId('chart');
  const hc = isHighContrast();
  const fg = themeColor(['--vscode-foreground'], '#cccccc');
  const grid = hc
    ? themeColor(['--vscode-contrastBorder', '--vscode-foreground'], '#6fc3df')
    : getComputedStyle(document.body).getPropertyValue('--vscode-editorWidget-border').trim() ||
      'rgba(128,128,128,0.3)';
  const font = axisFont();
  const axis: uPlot.Axis = {
    stroke: fg,
    font,
    labelFont: font,
    gap: AXIS_GAP,
    grid: { stroke: grid, width: 1 },
    ticks: { stroke: grid, size: TICK_SIZE },
  };
  const opts: uPlot.Options = {
    width: Math.max(300, el.clientWidth),
    height: 220,
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      y: { distr: 3, range: (_u, min, max) => [Math.min(1, min || 1), Math.max(2000, max || 1)] },
    },
    axes: [
      axis,
      {
        ...axis,
        label: 'latency (ms, log)',
        values: (_u, vals) => vals.map((v) => ms(v)),
        // Wide enough for the widest tick label, so the axis title never covers "100 ms" or "1.0 s".
        size: (_u, values) => {
          const widest = Math.max(0, ...(values ?? []).map((v) => textWidth(String(v), font)));
          yAxisLayout.widest = Math.ceil(widest);
          yAxisLayout.size = Math.ceil(widest) + TICK_SIZE + AXIS_GAP + 6;
          return yAxisLayout.size;
        },
      },
    ],
    series: [{}, ...chartSeries(tables, hc)],
    hooks: {
      drawClear: [(u) => shadeWindows(u)],
      draw: [
        () => {
          el.dataset.yAxisRoom = String(yAxisLayout.size - TICK_SIZE - AXIS_GAP);
          el.dataset.yTickWidth = String(yAxisLayout.widest);
        },
      ],
      // The statement under the pointer: highlighted on the chart, its text shown below it.
      setCursor: [
        (u) => {
          const left = u.cursor.left;
          const t = left === undefined || left < 0 ? undefined : u.posToVal(left, 'x') * 1000;
          const mark = t === undefined ? undefined : markAt(t);
          if (document.activeElement?.closest('#statements')) return; // the keyboard's choice wins
          setActiveMark(mark?.key);
        },
      ],
    },
  };
  const made = new uPlot(opts, [[], ...tables.flatMap(() => [[], []])], el);
  const canvas = made.ctx.canvas;
  canvas.setAttribute('role', 'img');
  const legend = el.querySelector<HTMLTableElement>('table.u-legend');
  if (legend && !legend.caption) {
    legend.createCaption().textContent = 'Chart series';
    legend.caption!.className = 'sr-only';
  }
  return made;
}

/** The statement running at `t` (epoch ms), the latest one when they overlap. */
function markAt(t: number): StatementMarkDto | undefined {
  const now = state?.latency?.at ?? Date.now();
  return [...(state?.statements ?? [])].reverse().find((m) => m.startedAt <= t && t <= (m.endedAt ?? now));
}

/** Highlights a statement mark (or none) and shows its text under the chart. */
function setActiveMark(key: string | undefined): void {
  if (key === activeMark) return;
  activeMark = key;
  const mark = state?.statements.find((m) => m.key === key);
  const detail = byId('statement-detail');
  setHidden(detail, !mark);
  setText(detail, mark ? statementMarkText(mark, state?.latency?.at ?? Date.now()) : '');
  document
    .querySelectorAll<HTMLElement>('#statements li')
    .forEach((li) => li.classList.toggle('active', li.dataset.key === key));
  chart?.redraw(false);
}

/** Shades migration windows (recorded and live), the band above the stall threshold, and statement marks. */
function shadeWindows(u: uPlot): void {
  if (!state) return;
  const ctx = u.ctx;
  const { top, height, left, width } = u.bbox;
  const hc = isHighContrast();
  ctx.save();
  // The threshold the host's sampler counts stalls with (the setting), sent in every latency snapshot.
  const stallMs = state.latency?.stalledThresholdMs;
  if (stallMs !== undefined) {
    const yStall = u.valToPos(stallMs, 'y', true);
    ctx.fillStyle = themeColor(['--vscode-inputValidation-errorBackground'], 'rgba(255,0,0,0.08)');
    ctx.globalAlpha = hc ? 0.2 : 0.35;
    if (yStall > top) ctx.fillRect(left, top, width, Math.max(0, yStall - top));
  }
  const windowColor = hc
    ? themeColor(['--vscode-contrastActiveBorder', '--vscode-contrastBorder'], '#f38518')
    : themeColor(['--vscode-charts-purple', '--vscode-focusBorder'], '#b180d7');
  ctx.globalAlpha = hc ? 0.12 : 0.18;
  ctx.fillStyle = windowColor;
  const windows = state.runs.map((r) => [r.startedAt, r.endedAt, r.migration] as const);
  if (state.live) windows.push([state.live.startedAt, Date.now(), state.live.migration]);
  const xOf = (t: number) => u.valToPos(t / 1000, 'x', true);
  for (const [from, to] of windows) {
    const x0 = Math.max(left, xOf(from));
    const x1 = Math.min(left + width, xOf(to));
    if (x1 > x0) ctx.fillRect(x0, top, x1 - x0, height);
  }
  ctx.globalAlpha = 1;
  ctx.strokeStyle = windowColor;
  ctx.setLineDash([4, 3]);
  const vertical = (x: number) => {
    if (x < left || x > left + width) return;
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
  };
  for (const [from, to] of windows) for (const t of [from, to]) vertical(xOf(t));
  // Statement boundaries: a solid line where each starts (and ends); the active one's span filled.
  const markColor = hc
    ? themeColor(['--vscode-contrastActiveBorder', '--vscode-focusBorder'], '#f38518')
    : themeColor(['--vscode-descriptionForeground', '--vscode-foreground'], '#999999');
  const now = state.latency?.at ?? Date.now();
  ctx.setLineDash([]);
  ctx.strokeStyle = markColor;
  for (const mark of state.statements) {
    const active = mark.key === activeMark;
    const x0 = xOf(mark.startedAt);
    const x1 = xOf(mark.endedAt ?? now);
    if (active) {
      ctx.globalAlpha = hc ? 0.25 : 0.2;
      ctx.fillStyle = themeColor(['--vscode-focusBorder', '--vscode-foreground'], '#007fd4');
      const a = Math.max(left, x0);
      const b = Math.min(left + width, x1);
      if (b > a) ctx.fillRect(a, top, b - a, height);
    }
    ctx.globalAlpha = active ? 1 : 0.7;
    ctx.lineWidth = active ? 2 : 1;
    vertical(x0);
    if (mark.endedAt !== null) vertical(x1);
  }
  ctx.restore();
}

function renderChart(s: PanelState): void {
  // A theme switch changes the body's classes and the variables, and other tables other series: remake it.
  const tables = s.watch.tables.map((t) => t.table);
  const key = JSON.stringify([document.body.className, tables]);
  if (chart && key !== chartKey) {
    chart.destroy();
    chart = undefined;
  }
  if (!chart) {
    chart = makeChart(tables);
    chartKey = key;
  }
  const byTable = new Map((s.latency?.tables ?? []).map((t) => [t.table, t]));
  const now = (s.latency?.at ?? Date.now()) / 1000;
  const all = tables.flatMap((table, i) => (byTable.get(table)?.points ?? []).map((p) => ({ p, i })));
  all.sort((a, b) => a.p.t - b.p.t);
  const xs: number[] = [];
  const series: (number | null)[][] = tables.flatMap(() => [[], []]);
  for (const { p, i } of all) {
    xs.push(p.t / 1000);
    const column = i * 2 + (p.kind === 'read' ? 0 : 1);
    series.forEach((values, c) => values.push(c === column ? Math.max(1, p.latencyMs) : null));
  }
  chart.batch(() => {
    chart!.setData([xs, ...series], false);
    // The window the host's sampler keeps (in every snapshot), not a copy of it.
    if (s.latency) chart!.setScale('x', { min: now - s.latency.windowMs / 1000, max: now });
  });
  setAttr(chart.ctx.canvas, 'aria-label', latencyChartLabel(s.latency));
  setText(
    byId('watch'),
    `${s.watch.title}: ${s.watch.tables.map((t) => `${t.table} (reads: ${t.read}; writes: ${t.write})`).join(', ')}.`,
  );
  renderStatements(s);
  const stats = s.latency;
  const one = tables.length === 1;
  setHtml(
    byId('latency-stats'),
    stats
      ? statsTable(
          stats.tables.flatMap((t): [string, LatencyStatsDto][] => [
            [one ? 'reads' : `${t.table} reads`, t.read],
            [one ? 'writes' : `${t.table} writes`, t.write],
          ]),
          stats.stalledThresholdMs,
          stats.windowMs,
        )
      : '<p class="muted">Start the probe to measure read and write latency.</p>',
  );
}

/** The statement marks as a list: each item focusable, its text on hover and focus, its span lit on the chart. */
function renderStatements(s: PanelState): void {
  const list = byId<HTMLOListElement>('statements');
  setHidden(list, s.statements.length === 0);
  const now = s.latency?.at ?? Date.now();
  const existing = new Map<string, HTMLLIElement>();
  for (const li of Array.from(list.children) as HTMLLIElement[]) existing.set(li.dataset.key ?? '', li);
  let previous: Element | null = null;
  for (const mark of s.statements) {
    let li = existing.get(mark.key);
    if (!li) {
      li = document.createElement('li');
      li.dataset.key = mark.key;
      li.tabIndex = 0;
      li.addEventListener('focus', () => setActiveMark(mark.key));
      li.addEventListener('mouseenter', () => setActiveMark(mark.key));
      li.addEventListener('blur', () => setActiveMark(undefined));
      li.addEventListener('mouseleave', () => {
        if (document.activeElement !== li) setActiveMark(undefined);
      });
    }
    existing.delete(mark.key);
    const text = statementMarkText(mark, now);
    setAttr(li, 'title', text);
    setAttr(li, 'aria-label', text);
    setText(li, `${mark.label} · ${mark.endedAt === null ? 'running' : ms(mark.endedAt - mark.startedAt)}`);
    li.classList.toggle('active', mark.key === activeMark);
    const expected: Element | null = previous ? previous.nextElementSibling : list.firstElementChild;
    if (expected !== li) list.insertBefore(li, expected);
    previous = li;
  }
  for (const li of existing.values()) li.remove();
  if (activeMark !== undefined && !s.statements.some((m) => m.key === activeMark)) setActiveMark(undefined);
}

function statsTable(rows: [string, LatencyStatsDto][], stalledThresholdMs: number, windowMs: number): string {
  const body = rows
    .map(
      ([name, k]) =>
        `<tr class="${k.stalled > 0 ? 'stalled' : ''}"><th scope="row">${name}</th><td>${k.count}</td><td>${k.inFlight}</td><td>${ms(k.p50Ms)}</td><td>${ms(k.p95Ms)}</td><td>${ms(k.maxMs)}</td><td>${k.stalled}</td><td>${k.errors + k.timeouts}</td></tr>`,
    )
    .join('');
  return `<table class="stats"><caption>Probe requests in the last ${windowMs / 1000} s (stalled rows highlighted)</caption><thead><tr><th scope="col">kind</th><th scope="col">done</th><th scope="col">in flight</th><th scope="col">p50</th><th scope="col">p95</th><th scope="col">max</th><th scope="col">stalled &gt; ${ms(stalledThresholdMs)}</th><th scope="col">errors</th></tr></thead><tbody>${body}</tbody></table>`;
}

// ---- locks, chains, progress ----

function roleTag(role: SessionRoleDto, text: string): string {
  return `<span class="role role-${esc(role)}">${esc(text)}</span>`;
}

function renderLocks(s: PanelState): void {
  const locks = s.locks?.locks ?? [];
  const rows = [...locks].sort((a, b) => Number(a.granted) - Number(b.granted) || a.pid - b.pid);
  setHtml(
    byId('locks'),
    rows.length === 0
      ? '<p class="muted">No locks on the watched tables right now.</p>'
      : `<table class="locks"><caption>Locks held and awaited on the watched tables (and every lock not granted), waiting rows first and highlighted</caption><thead><tr><th scope="col">pid</th><th scope="col">role</th><th scope="col">relation</th><th scope="col">mode</th><th scope="col">granted</th><th scope="col">waiting</th><th scope="col">blocked by</th><th scope="col">query</th></tr></thead><tbody>${rows.map(lockRow).join('')}</tbody></table>`,
  );
  renderChains(s);
  renderProgress(s.locks?.progress ?? []);
}

function lockRow(l: LockRowDto): string {
  return `<tr class="${l.granted ? '' : 'waiting'}" data-role="${esc(l.role)}"><td>${l.pid}</td><td>${roleTag(l.role, l.role)}</td><td>${esc(l.relation ?? `${l.locktype} ${l.target ?? ''}`)}</td><td>${esc(l.mode)}</td><td>${l.granted ? 'yes' : '<strong>no</strong>'}</td><td>${l.granted ? '' : ms(l.waitingMs)}</td><td>${esc(l.blockedBy.join(', '))}</td><td class="query" title="${esc(l.query)}">${esc(l.query)}</td></tr>`;
}

function blockersHtml(blockers: { pid: number; role: SessionRoleDto }[]): string {
  return blockers.map((b) => roleTag(b.role, `${b.role} ${b.pid}`)).join(', ');
}

function renderChains(s: PanelState): void {
  const chains = s.locks?.blockingChains ?? [];
  const shapes = chainShapes(chains);
  const inFlight = s.latency
    ? s.latency.tables.reduce((n, t) => n + t.write.inFlight + t.read.inFlight, 0)
    : null;
  // Sessions waiting inside PostgreSQL are capped by the probe's pools; requests beyond that queue in the probe.
  const counts =
    chains.length === 0
      ? ''
      : `<p class="muted">${chains.length} session${chains.length === 1 ? '' : 's'} waiting in PostgreSQL now${inFlight !== null ? `; ${inFlight} probe request${inFlight === 1 ? '' : 's'} in flight` : ''}.</p>`;
  setHtml(
    byId('chains'),
    chains.length === 0
      ? '<p class="muted">Nobody is waiting.</p>'
      : `${counts}<ul class="chains">${shapes
          .map(
            (sh) =>
              `<li class="chain">${roleTag(sh.waiterRole, waitersSubject(sh))} ${sh.waiterPids.length === 1 ? 'waits' : 'wait up to'} ${ms(sh.maxWaitingMs)} for <code>${esc(sh.mode)}</code> → ${blockersHtml(sh.blockers)}</li>`,
          )
          .join('')}</ul>`,
  );
  const toggle = byId<HTMLButtonElement>('chains-toggle');
  const all = byId<HTMLUListElement>('chains-all');
  const collapsed = chains.length > shapes.length;
  setHidden(toggle, chains.length === 0);
  setAvailability(toggle, collapsed ? null : 'Every waiting session is listed above.');
  const expanded = chainsExpanded && collapsed;
  setAttr(toggle, 'aria-expanded', String(expanded));
  setText(toggle, expanded ? 'Show the summary only' : `Show every waiting session (${chains.length})`);
  setHidden(all, !expanded);
  setHtml(
    all,
    expanded
      ? chains
          .map(
            (c) =>
              `<li class="chain">${roleTag(c.waiterRole, `${c.waiterRole} ${c.waiterPid}`)} waits ${ms(c.waitingMs)} for <code>${esc(c.mode)}</code> → ${blockersHtml(c.blockerPids.map((pid, i) => ({ pid, role: c.blockerRoles[i] ?? 'other' })))}</li>`,
          )
          .join('')
      : '',
  );
}

function renderProgress(progress: IndexProgressDto[]): void {
  const el = byId('progress');
  const changed = setHtml(
    el,
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
            return `<div class="build"><div>${esc(p.command)} on ${esc(p.relation)} (pid ${p.pid}): <strong>${esc(p.phase)}</strong> ${counters}</div><div class="bar" role="progressbar" aria-label="${esc(p.phase)}" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${pct ?? 0}"><div data-pct="${pct ?? 0}"></div></div></div>`;
          })
          .join(''),
  );
  // Widths through the CSSOM: the CSP allows no inline style attributes.
  if (changed) {
    el.querySelectorAll<HTMLElement>('[data-pct]').forEach(
      (bar) => (bar.style.width = `${bar.dataset.pct}%`),
    );
  }
}

// ---- runs ----

function summary(l: RunDto['reads']): string {
  return l
    ? `p50 ${ms(l.p50Ms)} · p95 ${ms(l.p95Ms)} · max ${ms(l.maxMs)} · ${l.stalled} stalled`
    : 'not probed';
}

/** Most sessions waiting in PostgreSQL at once, and (when the host measured it) requests queued in the probe. */
function waitedAtOnce(r: RunDto): string {
  const inPostgres = `${r.maxWaiters} session${r.maxWaiters === 1 ? '' : 's'} in PostgreSQL`;
  return r.maxProbeQueued === undefined
    ? inPostgres
    : `${inPostgres}; ${r.maxProbeQueued} request${r.maxProbeQueued === 1 ? '' : 's'} queued in the probe`;
}

function renderRuns(s: PanelState): void {
  renderKeyed(
    byId('runs'),
    s.runs.length === 0
      ? [
          {
            key: 'empty',
            tag: 'p',
            className: 'muted',
            focusable: false,
            html: 'No runs yet. Start the probe, then run a migration.',
          },
        ]
      : [...s.runs].reverse().map((r) => ({
          key: r.key,
          tag: 'article',
          className: `verdict verdict-${esc(r.outcome)}`,
          focusable: true,
          html: `<h3>${esc(r.title)} <small>${esc(r.kind)} · ${esc(r.outcome)} · ${ms(r.durationMs)}${r.attempts ? ` over ${r.attempts} attempt${r.attempts === 1 ? '' : 's'}` : ''}</small></h3><p>${esc(r.verdict)}</p><dl><dt>reads</dt><dd>${summary(r.reads)}</dd><dt>writes</dt><dd>${summary(r.writes)}</dd><dt>locks held</dt><dd>${esc(r.locksHeld.join('; ') || '–')}</dd><dt>waited at once</dt><dd>${waitedAtOnce(r)}</dd><dt>phases</dt><dd>${esc(r.phases.join(' → ') || '–')}</dd></dl>`,
        })),
  );
  // The host picks the pair (core's rule, the same as the exported report's); the panel draws it.
  const pair = (s.comparison?.runKeys ?? [])
    .map((key) => s.runs.find((r) => r.key === key))
    .filter((r): r is RunDto => r !== undefined);
  const rows: [string, (r: RunDto) => string][] = [
    ['duration', (r) => ms(r.durationMs)],
    [
      'reads p50 / p95 / max',
      (r) => (r.reads ? `${ms(r.reads.p50Ms)} / ${ms(r.reads.p95Ms)} / ${ms(r.reads.maxMs)}` : '–'),
    ],
    [
      'writes p50 / p95 / max',
      (r) => (r.writes ? `${ms(r.writes.p50Ms)} / ${ms(r.writes.p95Ms)} / ${ms(r.writes.maxMs)}` : '–'),
    ],
    [
      'requests stalled',
      (r) =>
        `${(r.reads?.stalled ?? 0) + (r.writes?.stalled ?? 0)}${r.stalledThresholdMs === undefined ? '' : ` (over ${ms(r.stalledThresholdMs)})`}`,
    ],
    ['locks held', (r) => esc(r.locksHeld.join('; '))],
    ['waited at once', (r) => waitedAtOnce(r)],
  ];
  setHtml(
    byId('comparison'),
    pair.length < 2
      ? '<p class="muted">Run both index migrations to compare them.</p>'
      : `<table class="compare"><caption>The compared runs side by side</caption><thead><tr><th scope="col">measure</th>${pair.map((r) => `<th scope="col">${esc(r.migration)}</th>`).join('')}</tr></thead><tbody>${rows
          .map(
            ([label, f]) =>
              `<tr><th scope="row">${label}</th>${pair.map((r) => `<td>${f(r)}</td>`).join('')}</tr>`,
          )
          .join(
            '',
          )}</tbody></table>${s.comparison ? `<p class="conclusion">${esc(s.comparison.conclusion)}</p>` : ''}`,
  );
}

// ---- lessons ----

function renderLessons(s: PanelState): void {
  setText(
    byId('slow-report'),
    s.slowReportPid !== null
      ? `Slow report open (pid ${s.slowReportPid}): a transaction that read ${s.lab.seedTable} and has not ended.`
      : s.liveLesson
        ? `Running the lesson "${s.liveLesson.title}"…`
        : '',
  );
  const invalid = byId('invalid');
  setHidden(invalid, s.lab.invalidIndexes.length === 0);
  setHtml(
    invalid,
    s.lab.invalidIndexes
      .map(
        (i) =>
          `<p><strong>Invalid index ${esc(i.index)}</strong> on ${esc(i.table)}: left by a failed or cancelled CONCURRENTLY build. The planner never uses it; ${i.indisready ? 'writes still maintain it' : 'it is not ready, so writes skip it, but its name is taken'}. <button type="button" data-invalid="${esc(i.index)}">Drop it concurrently and retry</button></p>`,
      )
      .join(''),
  );
  invalid
    .querySelectorAll<HTMLButtonElement>('button[data-invalid]')
    .forEach((b) => setAvailability(b, s.buttons.dropInvalidIndex));
  renderKeyed(
    byId('lessons'),
    s.lessons.map((r) => ({
      key: r.name,
      tag: 'article',
      className: 'verdict lesson',
      focusable: true,
      attrs: { 'data-lesson': r.name },
      html: `<h3>${esc(r.title)}</h3><p>${esc(r.verdict)}</p><dl>${r.facts
        .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`)
        .join('')}</dl>`,
    })),
  );
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

/** Draws, and if a draw throws says so in the panel instead of leaving it blank or half-drawn silently. */
function safeRender(): void {
  const error = byId('render-error');
  try {
    render();
    setHidden(error, true);
  } catch (e) {
    setText(
      error,
      `The panel could not draw what the extension sent (${e instanceof Error ? e.message : String(e)}). Close and reopen the Lock Monitor.`,
    );
    setHidden(error, false);
    console.error(e);
  }
}

let saveTimer: number | undefined;
function save(): void {
  // Throttled: the chart's points change five times a second.
  if (saveTimer !== undefined) return;
  saveTimer = window.setTimeout(() => {
    saveTimer = undefined;
    if (state) vscode.setState({ version: PANEL_STATE_VERSION, state });
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
  safeRender();
  save();
});

// VS Code swaps the theme's variables and body classes in place: redraw the chart in the new colours.
new MutationObserver(() => safeRender()).observe(document.body, {
  attributes: true,
  attributeFilter: ['class'],
});

window.addEventListener('resize', () =>
  chart?.setSize({ width: Math.max(300, byId('chart').clientWidth), height: 220 }),
);

// What the last session showed, until the host answers; a saved state of another shape is dropped.
const saved: unknown = vscode.getState();
state = restoreSavedState(saved);
if (saved !== undefined && state === undefined) vscode.setState(undefined);
// `ready` first: a restored state that fails to draw must not keep the host from sending a fresh one.
vscode.postMessage({ type: 'ready' });
safeRender();
