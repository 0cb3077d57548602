// "Check your own migration", as a person does it in the packaged extension: a project with a dbmate
// folder, the second walkthrough's buttons, "Trace Migration…" clicked inline on the pending migration in
// the Migrations view, and the trace report in the Markdown preview. Runs after the other UI tests in the
// same code-server and brings the lab to the state it needs itself (PostgreSQL started).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { describe, it, before, after, afterEach } = require('mocha');
const { Workbench, waitUntil } = require('./workbench');
const session = require('./session');

const TITLE = 'Migration Lab: Check Your Own Migration';
const STEPS = ['openFolder', 'toolNamed', 'lint', 'replay', 'trace', 'report'];
const NEWEST = '20250102000000_index_orders_customer';
const FIXTURE = path.join(__dirname, '..', '..', 'fixtures', 'trace-workspace', 'shop');

describe('A developer checks their own migration: walkthrough, trace from the Migrations view, report', function () {
  /** @type {Workbench} */
  let wb;
  /** @type {import('playwright-core').Page} */
  let page;
  let shop;
  const walkthroughTitle = () => wb.walkthroughTitle(TITLE);
  const openWalkthrough = async () => {
    await wb.runCommand('Migration Lab: Open Walkthrough: Check Your Own Migration');
    await walkthroughTitle().waitFor({ timeout: 20_000 });
  };
  const migrationsPane = () =>
    page.locator('.pane', { has: page.locator('.pane-header[aria-label="Migrations Section"]') });

  before(async function () {
    page = session.page;
    wb = new Workbench(page);
    shop = path.join(session.workspace, 'shop');
    fs.cpSync(FIXTURE, shop, { recursive: true });
  });

  after(() => fs.rmSync(shop, { recursive: true, force: true }));

  afterEach(function () {
    return session.screenshotIfFailed(this.currentTest);
  });

  it('opens the second walkthrough; "Open a folder with migrations" ticks once the dbmate folder is found', async function () {
    this.timeout(120_000);
    await wb.runCommand('View: Close All Editors');
    await wb.runCommand('Migration Lab: Start PostgreSQL');
    await wb.statusBarItem(`:${session.settings['migrationLab.postgres.port']}`).waitFor({ timeout: 90_000 });
    await openWalkthrough();
    for (const id of STEPS) await wb.walkthroughStep(id).waitFor({ timeout: 10_000 });
    await waitUntil('the openFolder step is ticked', () => wb.walkthroughStepDone('openFolder'), 45_000);
  });

  it('"Show Migrations" names the tool, "Open Newest Migration" shows lint problems, "Replay" replays: each step ticks', async function () {
    this.timeout(120_000);
    await wb.clickWalkthroughButton('toolNamed', 'Show Migrations');
    await migrationsPane()
      .locator('.monaco-list-row', { hasText: 'dbmate:' })
      .first()
      .waitFor({ timeout: 30_000 });
    await openWalkthrough();
    await waitUntil('the toolNamed step is ticked', () => wb.walkthroughStepDone('toolNamed'));
    await wb.clickWalkthroughButton('lint', 'Open Newest Migration');
    await wb.focusEditorTab(`${NEWEST}.sql`);
    await openWalkthrough();
    await waitUntil('the lint step is ticked', () => wb.walkthroughStepDone('lint'));
    await wb.clickWalkthroughButton('replay', 'Replay');
    await wb.waitForNotification('1 of 2 applied', 60_000);
    await openWalkthrough();
    await waitUntil('the replay step is ticked', () => wb.walkthroughStepDone('replay'));
  });

  it('"Trace Migration…" inline on the pending migration traces it and opens the report in the Markdown preview', async function () {
    this.timeout(240_000);
    // "Show Migrations" reads the lab's state again; that redraws no row (it once redrew the whole tree,
    // and an inline action clicked while VS Code re-read the rows reached the command without its row).
    await wb.runCommand('Migration Lab: Show Migrations');
    const row = migrationsPane()
      .locator('.monaco-list-row', { hasText: `[ ] ${NEWEST}` })
      .first();
    await row.waitFor({ timeout: 30_000 });
    await row.hover();
    await row.locator('.action-label[aria-label*="Trace Migration"]').click();
    // Live: the Lock Monitor draws the trace's table, the running statement and the lock it holds (the
    // fixture's index key is slow, so the build lasts seconds).
    const panel = wb.lockMonitor;
    await panel.locator('#watch', { hasText: 'Trace of' }).waitFor({ timeout: 120_000 });
    await panel.locator('#watch', { hasText: 'public.orders' }).waitFor({ timeout: 60_000 });
    await panel.locator('#statements li', { hasText: 'running' }).first().waitFor({ timeout: 60_000 });
    await panel.locator('#locks tr', { hasText: 'ShareLock' }).first().waitFor({ timeout: 30_000 });
    await session.screenshot('lock-monitor-trace.png');
    await wb.waitForNotification(`Traced ${NEWEST}`, 180_000);
    // The trace over, the panel draws the demo's table again.
    await panel.locator('#watch', { hasText: 'Demo: large_email' }).waitFor({ timeout: 30_000 });
    // The report: a preview tab of the read-only trace document, its statement table drawn.
    await page
      .locator('.tabs-container .tab', { hasText: `trace-${NEWEST}` })
      .first()
      .waitFor({ timeout: 30_000 });
    const preview = page.frameLocator('iframe.webview').last().frameLocator('#active-frame');
    await preview.locator('body', { hasText: NEWEST }).first().waitFor({ timeout: 30_000 });
    await preview.locator('table').first().waitFor({ timeout: 10_000 });
    assert.match(await preview.locator('body').innerText(), /ShareLock/);
    await session.screenshot('trace-report.png');
    // The Runs view keeps it.
    await wb.runCommand('Migration Lab: Focus on Runs View');
    const runsPane = page.locator('.pane', { has: page.locator('.pane-header[aria-label="Runs Section"]') });
    await runsPane
      .locator('.monaco-list-row', { hasText: `Trace: ${NEWEST}` })
      .first()
      .waitFor({ timeout: 15_000 });
  });

  it('shows every step of "Check Your Own Migration" as completed', async function () {
    await openWalkthrough();
    for (const id of STEPS)
      await waitUntil(`the ${id} step is ticked`, () => wb.walkthroughStepDone(id), 15_000);
    await session.screenshot('walkthrough-own-migration.png');
  });
});
