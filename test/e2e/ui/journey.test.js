// The newcomer's journey through the packaged extension, driven only the way a person drives it: the
// command palette, the walkthrough's buttons, the Lock Monitor's buttons. Run by test/e2e/run-ui-tests.js,
// which installs the .vsix into a fresh code-server and fills `session` (page, screenshot folder, settings).
const assert = require('node:assert/strict');
const path = require('node:path');
const { describe, it, before, afterEach } = require('mocha');
const { Workbench } = require('./workbench');
const session = require('./session');

const TITLE = 'Migration Lab: See What a Migration Blocks';
const SEED_ROWS = 2_000_000;
const STEPS = [
  'startPostgres',
  'seed',
  'openLockMonitor',
  'runLocking',
  'rollback',
  'runConcurrent',
  'compare',
];

describe('A newcomer follows the Migration Lab walkthrough in VS Code', function () {
  /** @type {Workbench} */
  let wb;
  /** @type {import('playwright-core').Page} */
  let page;
  const shot = async (name) => {
    const file = path.join(session.resultsDir, name);
    await page.screenshot({ path: file });
    session.screenshots.push(file);
  };
  const runCard = (kind) =>
    wb.lockMonitor.locator('article.verdict', {
      has: wb.lockMonitor.locator('h3 small', { hasText: `${kind} ·` }),
    });

  before(function () {
    page = session.page;
    wb = new Workbench(page);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      const file = path.join(session.resultsDir, 'failure.png');
      await page.screenshot({ path: file }).catch(() => {});
      console.log(`    screenshot of the failure: ${file}`);
    }
  });

  const walkthroughTitle = () =>
    page
      .locator('.gettingStartedContainer h2, .gettingStartedContainer .category-title', { hasText: TITLE })
      .first();

  it('activates on startup: the status bar item, and the walkthrough opens by itself the first time', async function () {
    await wb.statusBarItem('Postgres stopped').waitFor({ timeout: 60_000 });
    await walkthroughTitle().waitFor({ timeout: 20_000 });
  });

  it('lists the walkthrough under "Welcome: Open Walkthrough..."', async function () {
    await wb.runCommand('Welcome: Open Walkthrough...');
    await wb.quickInput.locator('input').fill('Migration Lab');
    await wb.quickPickRow(TITLE).waitFor({ timeout: 15_000 });
    await page.keyboard.press('Escape');
  });

  it('opens the walkthrough with "Migration Lab: Open Walkthrough"', async function () {
    await wb.runCommand('View: Toggle Primary Side Bar Visibility'); // room for the panel in the screenshots
    await wb.runCommand('View: Close All Editors');
    await wb.runCommand('Migration Lab: Open Walkthrough');
    await walkthroughTitle().waitFor({ timeout: 20_000 });
    for (const id of STEPS) {
      await wb.walkthroughStep(id).waitFor({ timeout: 10_000 });
      assert.equal(await wb.walkthroughStepDone(id), false, `${id} is not done on a fresh install`);
    }
  });

  it('starts PostgreSQL with the walkthrough button, and the step ticks', async function () {
    this.timeout(120_000);
    await wb.clickWalkthroughButton('startPostgres', 'Start PostgreSQL');
    await wb.statusBarItem(`:${session.settings['migrationLab.postgres.port']}`).waitFor({ timeout: 90_000 });
    await waitUntil('the startPostgres step is ticked', () => wb.walkthroughStepDone('startPostgres'));
  });

  it(`seeds ${SEED_ROWS.toLocaleString('en-US')} rows with the walkthrough button (Custom… row count)`, async function () {
    this.timeout(300_000);
    for (let attempt = 1; ; attempt++) {
      await wb.clickWalkthroughButton('seed', 'Seed Tables');
      try {
        await wb.pick('Custom…', 5000);
        break;
      } catch (e) {
        // The quick pick closes when something else takes focus as it opens; a person would click again.
        if (attempt === 3) throw e;
        await page.keyboard.press('Escape');
      }
    }
    await wb.typeAndEnter(String(SEED_ROWS));
    const text = await wb.waitForNotification('Seeded:', 240_000);
    assert.match(text, /large_email 2,000,000/);
    await waitUntil('the seed step is ticked', () => wb.walkthroughStepDone('seed'));
  });

  it('opens the Lock Monitor with the walkthrough button; the probes start', async function () {
    this.timeout(60_000);
    await wb.clickWalkthroughButton('openLockMonitor', 'Open Lock Monitor');
    await wb.lockMonitor.locator('#status', { hasText: 'probe on' }).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(3000); // a few seconds of baseline latency before the migration
  });

  it('runs the locking migration from the panel: probe writes wait, the verdict says writes stalled', async function () {
    this.timeout(180_000);
    await wb.clearNotifications(); // the "Seeded" toast would cover the panel in the screenshot
    await wb.clickPanelButton('runLocking');
    const waitingWrite = wb.lockMonitor.locator('tr.waiting[data-role="probe-write"]').first();
    await waitingWrite.waitFor({ timeout: 60_000 });
    assert.match(await waitingWrite.innerText(), /probe-write/);
    await page.waitForTimeout(700); // let the latency chart draw the stall and more writes queue
    // The table re-renders five times a second; scroll by its stable heading, as a person would scroll down.
    await wb.lockMonitor.locator('#latency-stats').scrollIntoViewIfNeeded();
    await shot('lock-monitor-locking-dark.png');
    const card = runCard('locking');
    await card.waitFor({ timeout: 120_000 });
    const verdict = await card.locator('p').first().innerText();
    console.log(`      locking verdict: ${verdict}`);
    assert.match(verdict, /^Writes stalled/);
    assert.match(verdict, /reads (unaffected|slowed)/, 'a SHARE lock does not block reads');
  });

  it('rolls the index back from the panel', async function () {
    this.timeout(60_000);
    await wb.clickPanelButton('rollback');
    const text = await wb.waitForNotification(
      /roll back to 0001_initial: 0002_add_email_index done in/,
      45_000,
    );
    assert.match(text, /done in \d+\.\d s/);
  });

  it('runs the concurrent migration from the panel: the verdict says nothing stalled', async function () {
    this.timeout(180_000);
    await wb.clickPanelButton('runConcurrent');
    const card = runCard('concurrent');
    await card.waitFor({ timeout: 150_000 });
    const verdict = await card.locator('p').first().innerText();
    console.log(`      concurrent verdict: ${verdict}`);
    assert.match(verdict, /^Nothing stalled/);
  });

  it('opens the comparison with "Migration Lab: Compare Runs"', async function () {
    this.timeout(60_000);
    await wb.runCommand('Migration Lab: Compare Runs');
    const conclusion = wb.lockMonitor.locator('#comparison .conclusion');
    await conclusion.waitFor({ timeout: 20_000 });
    console.log(`      conclusion: ${(await conclusion.innerText()).trim()}`);
    await page.waitForTimeout(1000); // the panel scrolls to the comparison
    await shot('lock-monitor-comparison.png');
  });

  it('shows every walkthrough step as completed', async function () {
    this.timeout(60_000);
    await wb.runCommand('Migration Lab: Open Walkthrough');
    await wb.walkthroughStep('compare').waitFor({ timeout: 20_000 });
    for (const id of STEPS) {
      await waitUntil(`the ${id} step is ticked`, () => wb.walkthroughStepDone(id), 15_000);
    }
    await wb.walkthroughStep('compare').click(); // show the last step's text, as a person reading on would
    await page.waitForTimeout(1500);
    await shot('walkthrough.png');
  });

  it('walks the lock-queue lesson: walkthrough button, the chain in the panel, the verdict, the step ticks', async function () {
    this.timeout(180_000);
    await wb.clickWalkthroughButton('lockQueue', 'Run the Lock-Queue Lesson');
    await wb.focusEditorTab('Lock Monitor');
    // Reads queue behind the ALTER, which waits for the slow report: both links of the chain are shown.
    const readerWaits = wb.lockMonitor.locator('li.chain', {
      hasText: /probe-read( \d+ waits| sessions wait) .* AccessShareLock → migration \d+/, // one line per shape
    });
    const ddlWaits = wb.lockMonitor.locator('li.chain', {
      hasText: /AccessExclusiveLock → long-transaction/,
    });
    // Both in one snapshot: the queue lasts about 2.5 s, too short to look for one line after the other.
    await wb.lockMonitor
      .locator('#chains', { has: readerWaits })
      .filter({ has: ddlWaits })
      .waitFor({ timeout: 60_000 });
    await shot('lock-monitor-lock-queue.png');
    const card = wb.lockMonitor.locator('article.lesson[data-lesson="lock-queue"]');
    await card.waitFor({ timeout: 90_000 });
    const verdict = await card.locator('p').first().innerText();
    console.log(`      lock-queue verdict: ${verdict}`);
    assert.match(verdict, /^Reads stalled up to /);
    assert.match(verdict, /queued behind ALTER TABLE/);
    await wb.runCommand('Migration Lab: Open Walkthrough');
    await waitUntil('the lockQueue step is ticked', () => wb.walkthroughStepDone('lockQueue'), 15_000);
  });

  it('the Lock Monitor follows the light theme ("Preferences: Color Theme")', async function () {
    this.timeout(60_000);
    await wb.runCommand('Preferences: Color Theme');
    await wb.typeAndEnter('Light Modern');
    await page.locator('.monaco-workbench.vs').first().waitFor({ timeout: 15_000 });
    await wb.focusEditorTab('Lock Monitor');
    // VS Code marks a webview's body with the theme kind; the panel's CSS uses the theme's variables.
    await wb.lockMonitor.locator('body.vscode-light').waitFor({ timeout: 15_000 });
    await wb.lockMonitor
      .locator('#runs')
      .scrollIntoViewIfNeeded()
      .catch(() => {});
    await page.waitForTimeout(500);
    await shot('lock-monitor-light.png');
  });

  it('stops PostgreSQL from the command palette', async function () {
    this.timeout(60_000);
    await wb.runCommand('Migration Lab: Stop PostgreSQL');
    await wb.statusBarItem('Postgres stopped').waitFor({ timeout: 45_000 });
  });
});

/** Polls an async condition every 250 ms. */
async function waitUntil(what, condition, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
