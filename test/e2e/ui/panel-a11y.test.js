/* global document, getComputedStyle -- functions passed to evaluate() run inside the panel */
// The Lock Monitor as a keyboard user and as a user of each built-in theme meets it: opened and driven with
// the keyboard only (focus survives the panel's live updates), disabled buttons that say why, Start
// PostgreSQL in the panel while it is stopped, and, during a locking run in Dark Modern, Light Modern, Light
// High Contrast and Dark High Contrast, role tags and highlighted rows legible (contrast >= 4.5:1 from the
// computed styles), the chain collapsed to its shapes, the y axis wide enough for its tick labels.
// Runs after journey.test.js in the same code-server (seeded table, PostgreSQL stopped at its end), but
// brings the lab to the state it needs itself.
const assert = require('node:assert/strict');
const { describe, it, before, afterEach } = require('mocha');
const { Workbench, waitUntil } = require('./workbench');
const session = require('./session');

const THEMES = [
  { name: 'Dark Modern', file: 'dark-modern', body: 'body.vscode-dark' },
  { name: 'Light Modern', file: 'light-modern', body: 'body.vscode-light' },
  { name: 'Light High Contrast', file: 'light-high-contrast', body: 'body.vscode-high-contrast-light' },
  {
    name: 'Dark High Contrast',
    file: 'dark-high-contrast',
    body: 'body.vscode-high-contrast:not(.vscode-high-contrast-light)',
  },
];
const MIN_CONTRAST = 4.5;

describe('The Lock Monitor with the keyboard and in every theme', function () {
  /** @type {Workbench} */
  let wb;
  /** @type {import('playwright-core').Page} */
  let page;
  const panelButton = (action) => wb.lockMonitor.locator(`button[data-action=${action}]`);
  /** What has keyboard focus inside the panel: its data-action, id, or tag name. */
  const focused = () =>
    wb.lockMonitor
      .locator('body')
      .evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body) return 'body';
        return el.getAttribute('data-action') || el.id || el.getAttribute('data-key') || el.tagName;
      })
      .catch(() => 'no frame');

  /**
   * The command palette with the keyboard only: F1, type the title, Enter on the highlighted row. A webview
   * that has focus forwards F1 to the workbench asynchronously, and a key pressed while it is taking focus
   * can be lost: press it again, as a person would.
   */
  async function commandByKeyboard(title, { click = false } = {}) {
    const input = wb.quickInput.locator('input');
    const row = page
      .locator(`.quick-input-widget .quick-input-list .monaco-list-row${click ? '' : '.focused'}`, {
        has: page.locator('.label-name', { hasText: title }),
      })
      .first();
    for (let attempt = 1; ; attempt++) {
      try {
        await page.keyboard.press('Escape');
        await page.keyboard.press('F1');
        await input.waitFor({ state: 'visible', timeout: 3000 });
        await waitUntil(
          'the palette input has focus',
          () => input.evaluate((el) => el === document.activeElement),
          3000,
          100,
        );
        await page.keyboard.type(title);
        await row.waitFor({ timeout: 5000 });
        break;
      } catch (e) {
        if (attempt === 5) throw e;
      }
    }
    if (click) await row.click();
    else await page.keyboard.press('Enter');
  }

  /** Presses Tab until the panel's focus is on `target` (a data-action), at most `limit` times. */
  async function tabTo(target, limit = 40) {
    const seen = [];
    for (let i = 0; i < limit; i++) {
      const now = await focused();
      if (now === target) return;
      seen.push(now);
      await page.keyboard.press('Tab');
    }
    throw new Error(`${limit} Tab presses never reached ${target}; focus went ${seen.join(' → ')}`);
  }

  async function ensureRolledBack() {
    const rollback = panelButton('rollback');
    if ((await rollback.getAttribute('aria-disabled')) === 'false') {
      await rollback.click();
      await wb.lockMonitor.locator('button[data-action=runLocking][aria-disabled="false"]').waitFor({
        timeout: 60_000,
      });
    }
  }

  async function ensureProbe() {
    await wb.lockMonitor.locator('#status', { hasText: /probe (on|off)/ }).waitFor({ timeout: 30_000 });
    if (await wb.lockMonitor.locator('#status', { hasText: 'probe off' }).count()) {
      await wb.clickPanelButton('startProbe');
    }
    await wb.lockMonitor.locator('#status', { hasText: 'probe on' }).waitFor({ timeout: 30_000 });
  }

  const runCards = () => wb.lockMonitor.locator('#runs article.verdict');

  before(function () {
    page = session.page;
    wb = new Workbench(page);
  });

  afterEach(function () {
    return session.screenshotIfFailed(this.currentTest);
  });

  it('while PostgreSQL is stopped, the panel offers Start PostgreSQL and says why the other buttons wait', async function () {
    this.timeout(360_000);
    const port = `:${session.settings['migrationLab.postgres.port']}`;
    const panelOpen = async () =>
      (await page.locator('.tabs-container .tab', { hasText: 'Lock Monitor' }).count()) > 0;
    await wb.statusBarItem('Postgres').waitFor({ timeout: 60_000 }); // the extension is active
    if (await wb.statusBarItem('Postgres stopped').count()) {
      await commandByKeyboard('Migration Lab: Start PostgreSQL');
      await wb.statusBarItem(port).waitFor({ timeout: 90_000 });
    }
    // A table large enough for writes to queue, whatever ran before (the journey ends on a reset lab):
    // seeded with the probe off, and resumed to what is there, so a seeded table stays as it is.
    await commandByKeyboard('Migration Lab: Stop Probe');
    await wb.clearNotifications(); // an earlier "Seeded:" must not answer for this seed
    await commandByKeyboard('Migration Lab: Seed Tables');
    await wb.pick('Custom…');
    await wb.quickInput.filter({ hasText: 'Rows in large_email (1 to' }).waitFor({ timeout: 10_000 });
    await wb.typeAndEnter('2000000');
    await wb.waitForNotification('Seeded:', 240_000);
    // Opening the panel needs a running database; the panel then stays open while it stops.
    if (!(await panelOpen())) await commandByKeyboard('Migration Lab: Open Lock Monitor');
    if (!(await wb.statusBarItem('Postgres stopped').count())) {
      await commandByKeyboard('Migration Lab: Stop PostgreSQL');
      await wb.statusBarItem('Postgres stopped').waitFor({ timeout: 45_000 });
    }
    await wb.focusEditorTab('Lock Monitor');
    const start = wb.lockMonitor.locator('button[data-action=startPostgres]:visible');
    await start.waitFor({ timeout: 30_000 });
    assert.equal(await start.getAttribute('aria-disabled'), 'false');
    // Disabled buttons stay focusable and carry the host's reason as their tooltip.
    const runLocking = panelButton('runLocking');
    assert.equal(await runLocking.getAttribute('aria-disabled'), 'true');
    assert.match((await runLocking.getAttribute('title')) ?? '', /PostgreSQL is stopped/);
    assert.match((await panelButton('cancel').getAttribute('title')) ?? '', /No migration is running/);

    await start.focus();
    await page.keyboard.press('Enter');
    await wb.statusBarItem(port).waitFor({ timeout: 90_000 });
    await start.waitFor({ state: 'hidden', timeout: 30_000 });
    assert.equal(
      await focused(),
      'runLocking',
      'focus moves to the next button when Start PostgreSQL goes away',
    );
  });

  it('opened with the keyboard: Tab to "Run Locking Index Migration", Enter starts the run, focus survives the live updates and Tab moves on', async function () {
    this.timeout(240_000);
    await commandByKeyboard('View: Close All Editors');
    await commandByKeyboard('Migration Lab: Open Lock Monitor');
    await wb.lockMonitor.locator('#status', { hasText: /PostgreSQL \d/ }).waitFor({ timeout: 30_000 });
    await ensureProbe();
    const applied = panelButton('runLocking');
    await wb.lockMonitor
      .locator('button[data-action=runLocking][title], button[data-action=runLocking][aria-disabled="false"]')
      .waitFor({ timeout: 30_000 });
    if ((await applied.getAttribute('aria-disabled')) === 'true') {
      // The journey left an index migration applied: the button says so, and Roll Back is one Tab away.
      assert.match((await applied.getAttribute('title')) ?? '', /is applied: press Roll Back first/);
      await tabTo('rollback');
      await page.keyboard.press('Enter');
      await wb.lockMonitor.locator('button[data-action=runLocking][aria-disabled="false"]').waitFor({
        timeout: 60_000,
      });
    }
    const runsBefore = await runCards().count();
    await page.keyboard.press('Shift+Tab');
    await tabTo('runLocking');
    await page.keyboard.press('Enter');
    await wb.lockMonitor.locator('#live:visible', { hasText: /Running 0002_add_email_index/ }).waitFor({
      timeout: 30_000,
    });
    await wb.lockMonitor.locator('tr.waiting[data-role="probe-write"]').first().waitFor({ timeout: 60_000 });
    // The panel redraws five times a second; the focused button must stay the same node.
    await page.waitForTimeout(1500);
    assert.equal(await focused(), 'runLocking', 'focus stays on the button the user pressed');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'rollback', 'Tab moves to the next toolbar button during the run');

    // The chain is collapsed to its shapes, waiter role first; the toggle opens the full list with Enter.
    const line = wb.lockMonitor.locator('#chains li.chain').first();
    assert.match(
      await line.innerText(),
      /^(\d+ probe-write sessions wait up to|probe-write \d+ waits) .+ for RowExclusiveLock → migration \d+$/,
    );
    const toggle = wb.lockMonitor.locator('#chains-toggle');
    if ((await toggle.getAttribute('aria-disabled')) === 'false') {
      await toggle.focus();
      await page.keyboard.press('Enter');
      await wb.lockMonitor.locator('#chains-toggle[aria-expanded="true"]').waitFor({ timeout: 5000 });
      const shapes = await wb.lockMonitor.locator('#chains li.chain').count();
      assert.ok(
        (await wb.lockMonitor.locator('#chains-all li.chain').count()) > shapes,
        'the full list has every waiting session',
      );
      assert.equal(await focused(), 'chains-toggle', 'the toggle keeps focus while the chain redraws');
      await page.keyboard.press('Enter');
      await wb.lockMonitor.locator('#chains-toggle[aria-expanded="false"]').waitFor({ timeout: 5000 });
    }

    await runCards().nth(runsBefore).waitFor({ timeout: 120_000 });
    // A run card keeps its node (and the focus on it) while the latency and locks keep updating.
    const card = runCards().first();
    await card.focus();
    const key = await card.getAttribute('data-key');
    await page.waitForTimeout(1500);
    assert.equal(await focused(), key, 'focus stays on the run card');
  });

  it('labels the chart and captions every table', async function () {
    const label = await wb.lockMonitor
      .locator('#chart canvas[role="img"]')
      .first()
      .getAttribute('aria-label');
    assert.match(label ?? '', /reads p95 \d+(\.\d)? (ms|s), writes p95 \d+(\.\d)? (ms|s)/);
    const uncaptioned = await wb.lockMonitor
      .locator('body')
      .evaluate(
        () => [...document.querySelectorAll('table')].filter((t) => !t.caption?.textContent?.trim()).length,
      );
    assert.equal(uncaptioned, 0, 'every table has a caption');
  });

  for (const theme of THEMES) {
    it(`in ${theme.name}, during a locking run, role tags and highlighted rows read at >= ${MIN_CONTRAST}:1`, async function () {
      this.timeout(240_000);
      // Do Not Disturb keeps the toasts (the run's progress, "rolled back") off the panel in the screenshots.
      if (theme === THEMES[0])
        await commandByKeyboard('Notifications: Toggle Do Not Disturb Mode', { click: true });
      await commandByKeyboard('Preferences: Color Theme', { click: true });
      await wb.typeAndEnter(theme.name);
      await wb.focusEditorTab('Lock Monitor');
      await wb.lockMonitor.locator(theme.body).waitFor({ timeout: 15_000 });
      await ensureProbe();
      await ensureRolledBack();
      const runsBefore = await runCards().count();
      await wb.clickPanelButton('runLocking');
      // One evaluation inside the panel that waits for queued writes and measures at once, while they wait.
      const measured = await wb.lockMonitor.locator('body').evaluate(measureContrast, { timeoutMs: 60_000 });
      const summary = measured.items.map((i) => `${i.what} ${i.ratio.toFixed(1)}`).join(', ');
      console.log(
        `      ${theme.name}: ${measured.items.length} checked; lowest ${measured.lowest?.toFixed(2)}`,
      );
      assert.ok(
        measured.items.some((i) => i.what.startsWith('tag probe-write')),
        `a probe-write tag was measured: ${summary}`,
      );
      assert.ok(
        measured.items.some((i) => i.what.startsWith('row')),
        `a highlighted row was measured: ${summary}`,
      );
      const low = measured.items.filter((i) => i.ratio < MIN_CONTRAST);
      assert.deepEqual(
        low.map((i) => `${i.what}: ${i.ratio.toFixed(2)} (${i.fg} on ${i.bg})`),
        [],
        `every role tag and highlighted row reads at >= ${MIN_CONTRAST}:1 in ${theme.name}`,
      );
      // Who waits for whom names the waiting role first (never reads as if the migration waited).
      const roles = measured.chainWaiterRoles;
      assert.ok(roles.includes('role-probe-write'), `a line starts with the waiting probe-write: ${roles}`);
      assert.ok(
        !roles.includes('none') && !roles.includes('role-migration'),
        `each line starts with its waiter: ${roles}`,
      );
      // The y axis is wide enough for its tick labels ("100 ms" must not read "00 ms").
      assert.ok(measured.yTickWidth > 0, 'the chart drew tick labels');
      assert.ok(
        measured.yTickWidth <= measured.yAxisRoom,
        `tick labels (${measured.yTickWidth} px) fit the y axis (${measured.yAxisRoom} px)`,
      );
      await wb.lockMonitor.locator('#latency-stats').scrollIntoViewIfNeeded();
      await session.screenshot(`lock-monitor-${theme.file}.png`);
      await runCards().nth(runsBefore).waitFor({ timeout: 120_000 });
      if (theme === THEMES.at(-1))
        await commandByKeyboard('Notifications: Toggle Do Not Disturb Mode', { click: true });
    });
  }
});

/**
 * Runs inside the panel: waits for a waiting probe-write row, then returns the contrast ratio of every role
 * tag and every highlighted row cell, each from its computed text colour over its computed background
 * (transparent and translucent backgrounds composited over their ancestors', as the browser paints them).
 */
async function measureContrast({ timeoutMs }) {
  const deadline = Date.now() + timeoutMs;
  while (!document.querySelector('tr.waiting[data-role="probe-write"]')) {
    if (Date.now() > deadline) throw new Error('no probe-write waited within the deadline');
    await new Promise((r) => setTimeout(r, 50));
  }
  const parse = (text) => {
    let m = /^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/.exec(text);
    if (m) return [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]];
    m = /^color\(srgb ([-\d.e]+) ([-\d.e]+) ([-\d.e]+)(?: \/ ([\d.]+))?\)$/.exec(text);
    if (m) return [m[1] * 255, m[2] * 255, m[3] * 255, m[4] === undefined ? 1 : +m[4]];
    throw new Error(`cannot read the colour "${text}"`);
  };
  const over = (top, below) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + below[i] * (1 - a)).concat(1);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let color = [255, 255, 255, 1];
    for (const layer of layers.reverse()) color = over(layer, color);
    return color;
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const fmt = (c) => `rgb(${c.slice(0, 3).map(Math.round).join(',')})`;
  const items = [];
  const check = (what, el) => {
    const bg = background(el);
    const fg = over(parse(getComputedStyle(el).color), bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    items.push({ what, ratio: (hi + 0.05) / (lo + 0.05), fg: fmt(fg), bg: fmt(bg) });
  };
  for (const tag of document.querySelectorAll('.role')) {
    if (tag.getClientRects().length) check(`tag ${tag.textContent}`, tag);
  }
  for (const cell of document.querySelectorAll('tr.waiting td, tr.stalled td, tr.stalled th')) {
    check(
      `row ${cell.parentElement.getAttribute('data-role') ?? 'stats'} "${cell.textContent.slice(0, 20)}"`,
      cell,
    );
  }
  const chainWaiterRoles = [...document.querySelectorAll('#chains li.chain')].map(
    (li) => [...(li.firstElementChild?.classList ?? [])].find((c) => c.startsWith('role-')) ?? 'none',
  );
  const chart = document.getElementById('chart');
  return {
    items,
    lowest: items.length ? Math.min(...items.map((i) => i.ratio)) : null,
    chainWaiterRoles,
    yAxisRoom: Number(chart.dataset.yAxisRoom),
    yTickWidth: Number(chart.dataset.yTickWidth),
  };
}
