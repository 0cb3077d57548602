// The newcomer's journey through the packaged extension, driven only the way a person drives it: the
// command palette, the walkthrough's buttons, the Lock Monitor's buttons. Run by test/e2e/run-ui-tests.js,
// which installs the .vsix into a fresh code-server and fills `session` (page, screenshot folder, settings).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { describe, it, before, afterEach } = require('mocha');
const { Workbench, waitUntil } = require('./workbench');
const session = require('./session');

const TITLE = 'Migration Lab: See What a Migration Blocks';
const SEED_ROWS = 2_000_000;
/** The walkthrough's eleven steps, in the order it is written (and walked here). */
const STEPS = [
  'startPostgres',
  'seed',
  'openLockMonitor',
  'runLocking',
  'rollback',
  'runConcurrent',
  'compare',
  'lockQueue',
  'lockTimeout',
  'concurrentWaits',
  'failedConcurrently',
];
const EXTENSION_STORAGE = 'User/globalStorage/migration-lab.migration-lab';

describe('A newcomer follows the Migration Lab walkthrough in VS Code', function () {
  /** @type {Workbench} */
  let wb;
  /** @type {import('playwright-core').Page} */
  let page;
  const runCard = (kind) =>
    wb.lockMonitor.locator('article.verdict', {
      has: wb.lockMonitor.locator('h3 small', { hasText: `${kind} ·` }),
    });
  const lessonCard = (name) => wb.lockMonitor.locator(`article.lesson[data-lesson="${name}"]`);

  before(function () {
    page = session.page;
    wb = new Workbench(page);
  });

  afterEach(function () {
    return session.screenshotIfFailed(this.currentTest);
  });

  const walkthroughTitle = () => wb.walkthroughTitle(TITLE);

  /** Everything the extension logged so far, over every extension host of this window (reloads included). */
  const extensionLog = () => {
    const logs = path.join(session.userData, 'logs');
    const files = [];
    const walk = (dir) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === 'Migration Lab.log') files.push(p);
      }
    };
    walk(logs);
    return files
      .sort()
      .map((f) => fs.readFileSync(f, 'utf8'))
      .join('\n');
  };

  /**
   * The state the issue found: the Lock Monitor in a background tab behind the walkthrough (one editor
   * group). A walkthrough button must bring it in front, beside the walkthrough, before the run starts.
   */
  async function clickWithLockMonitorBehind(stepId, label) {
    await wb.runCommand('View: Join All Editor Groups');
    await wb.runCommand('Migration Lab: Open Walkthrough');
    await walkthroughTitle().waitFor({ timeout: 20_000 });
    await waitUntil('the Lock Monitor is in a background tab', async () => !(await wb.lockMonitorVisible()));
    await wb.clickWalkthroughButton(stepId, label);
    await waitUntil(
      'the Lock Monitor is in front, beside the walkthrough (which stays visible)',
      async () => (await wb.lockMonitorVisible()) && (await wb.walkthroughPage.isVisible()),
      15_000,
    );
  }

  async function assertStepTicks(id) {
    await wb.runCommand('Migration Lab: Open Walkthrough');
    await waitUntil(`the ${id} step is ticked`, () => wb.walkthroughStepDone(id), 15_000);
  }

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

  it('opens the walkthrough with "Migration Lab: Open Walkthrough"; none of the 11 steps is done', async function () {
    await wb.runCommand('View: Toggle Primary Side Bar Visibility'); // room for the panel in the screenshots
    await wb.runCommand('View: Close All Editors');
    await wb.runCommand('Migration Lab: Open Walkthrough');
    await walkthroughTitle().waitFor({ timeout: 20_000 });
    for (const id of STEPS) {
      await wb.walkthroughStep(id).waitFor({ timeout: 10_000 });
      assert.equal(await wb.walkthroughStepDone(id), false, `${id} is not done on a fresh install`);
    }
  });

  it('step 1: starts PostgreSQL with the walkthrough button, and the step ticks', async function () {
    this.timeout(120_000);
    await wb.clickWalkthroughButton('startPostgres', 'Start PostgreSQL');
    await wb.statusBarItem(`:${session.settings['migrationLab.postgres.port']}`).waitFor({ timeout: 90_000 });
    await waitUntil('the startPostgres step is ticked', () => wb.walkthroughStepDone('startPostgres'));
  });

  it(`step 2: seeds ${SEED_ROWS.toLocaleString('en-US')} rows (the quick pick highlights the default, 5M; Custom… is picked)`, async function () {
    this.timeout(300_000);
    for (let attempt = 1; ; attempt++) {
      await wb.clickWalkthroughButton('seed', 'Seed Tables');
      try {
        await wb.quickPickRow('Custom…').waitFor({ timeout: 5000 });
        // Enter picks the highlighted row: it must be the setting's default, not the first row (1M).
        assert.match(await wb.focusedQuickPickRow.innerText(), /^5M rows/);
        await wb.pick('Custom…', 5000);
        break;
      } catch (e) {
        // The quick pick closes when something else takes focus as it opens; a person would click again.
        if (attempt === 3 || e instanceof assert.AssertionError) throw e;
        await page.keyboard.press('Escape');
      }
    }
    // Type only once the row-count box replaced the quick pick (typing into the closing pick loses it).
    await wb.quickInput.filter({ hasText: 'Rows in large_email (1 to' }).waitFor({ timeout: 10_000 });
    await wb.typeAndEnter(String(SEED_ROWS));
    const text = await wb.waitForNotification('Seeded:', 240_000);
    assert.match(text, /large_email 2,000,000/);
    await waitUntil('the seed step is ticked', () => wb.walkthroughStepDone('seed'));
  });

  it('step 3: opens the Lock Monitor beside the walkthrough; the probes start', async function () {
    this.timeout(60_000);
    await wb.clickWalkthroughButton('openLockMonitor', 'Open Lock Monitor');
    await wb.lockMonitor.locator('#status', { hasText: 'probe on' }).waitFor({ timeout: 30_000 });
    await waitUntil(
      'the Lock Monitor and the walkthrough are both in view',
      async () => (await wb.lockMonitorVisible()) && (await wb.walkthroughPage.isVisible()),
      10_000,
    );
    await page.waitForTimeout(3000); // a few seconds of baseline latency before the migration
  });

  it('step 4: "Run the locking migration" brings the Lock Monitor in front: probe writes wait, the verdict says writes stalled', async function () {
    this.timeout(180_000);
    await wb.clearNotifications(); // the "Seeded" toast would cover the panel in the screenshot
    await clickWithLockMonitorBehind('runLocking', 'Run Locking Index Migration');
    const waitingWrite = wb.lockMonitor.locator('tr.waiting[data-role="probe-write"]').first();
    await waitingWrite.waitFor({ timeout: 60_000 });
    assert.match(await waitingWrite.innerText(), /probe-write/);
    await page.waitForTimeout(700); // let the latency chart draw the stall and more writes queue
    // The table re-renders five times a second; scroll by its stable heading, as a person would scroll down.
    await wb.lockMonitor.locator('#latency-stats').scrollIntoViewIfNeeded();
    await session.screenshot('lock-monitor-locking-dark.png');
    const card = runCard('locking');
    await card.waitFor({ timeout: 120_000 });
    const verdict = await card.locator('p').first().innerText();
    console.log(`      locking verdict: ${verdict}`);
    assert.match(verdict, /^Writes stalled/);
    assert.match(verdict, /reads (unaffected|slowed)/, 'a SHARE lock does not block reads');
    await assertStepTicks('runLocking');
  });

  it('step 5: rolls the index back with the walkthrough button', async function () {
    this.timeout(60_000);
    await wb.clickWalkthroughButton('rollback', 'Roll Back Index Migration');
    const text = await wb.waitForNotification(
      /roll back to 0001_initial: 0002_add_email_index done in/,
      45_000,
    );
    assert.match(text, /done in \d+\.\d s/);
    await waitUntil('the rollback step is ticked', () => wb.walkthroughStepDone('rollback'), 15_000);
  });

  it('step 6: "Run the concurrent migration" brings the Lock Monitor in front; the verdict says nothing stalled or waited', async function () {
    this.timeout(180_000);
    await clickWithLockMonitorBehind('runConcurrent', 'Run Concurrent Index Migration');
    const card = runCard('concurrent');
    await card.waitFor({ timeout: 150_000 });
    const verdict = await card.locator('p').first().innerText();
    console.log(`      concurrent verdict: ${verdict}`);
    // SHARE UPDATE EXCLUSIVE blocks neither: no request stalls (a busy 2-core machine may still slow some).
    assert.doesNotMatch(verdict, /(Writes|Reads) stalled/);
    assert.doesNotMatch(verdict, /sessions? waited on it/);
    await assertStepTicks('runConcurrent');
  });

  it('step 7: opens the comparison with the walkthrough button', async function () {
    this.timeout(60_000);
    await wb.clickWalkthroughButton('compare', 'Compare Runs');
    const conclusion = wb.lockMonitor.locator('#comparison .conclusion');
    await conclusion.waitFor({ timeout: 20_000 });
    console.log(`      conclusion: ${(await conclusion.innerText()).trim()}`);
    await page.waitForTimeout(1000); // the panel scrolls to the comparison
    await session.screenshot('lock-monitor-comparison.png');
    await assertStepTicks('compare');
  });

  it("the Database view lists the lab schema's tables, each with its columns and the index 0002 built", async function () {
    this.timeout(60_000);
    await wb.runCommand('Migration Lab: Focus on Database View');
    const pane = page.locator('.pane', { has: page.locator('.pane-header[aria-label="Database Section"]') });
    await pane.locator('.monaco-list-row[aria-level="1"]', { hasText: 'Tables' }).first().click();
    await pane.locator('.monaco-list-row[aria-level="2"]', { hasText: 'large_email' }).first().click();
    // Step 6 left 0002_add_email_index_concurrently applied: its index is listed, valid, under the table.
    const index = pane
      .locator('.monaco-list-row[aria-level="3"]', { hasText: 'large_email_email_idx' })
      .first();
    await index.waitFor({ timeout: 20_000 });
    assert.doesNotMatch(await index.innerText(), /INVALID/);
    await pane.locator('.monaco-list-row[aria-level="3"]', { hasText: 'email' }).first().waitFor();
    await session.screenshot('database-tables.png');
    await wb.runCommand('View: Toggle Primary Side Bar Visibility');
  });

  it('step 8: the lock-queue lesson, from its walkthrough button with the Lock Monitor in front: the chain, the verdict, the tick', async function () {
    this.timeout(180_000);
    await clickWithLockMonitorBehind('lockQueue', 'Run the Lock-Queue Lesson');
    // Reads queue behind the ALTER, which waits for the slow report: both links of the chain are shown
    // together (read in one go: the episode lasts a few seconds, and a busy machine polls slowly).
    await waitUntil(
      'the chain shows probe reads waiting for the ALTER, and the ALTER waiting for the long transaction',
      async () => {
        const chains = await wb.lockMonitor.locator('#chains').innerText({ timeout: 2000 });
        return (
          /probe-read( \d+ waits| sessions wait) .* AccessShareLock.*→ migration \d+/.test(chains) &&
          /AccessExclusiveLock → long-transaction/.test(chains)
        );
      },
      60_000,
    );
    await session.screenshot('lock-monitor-lock-queue.png');
    const card = lessonCard('lock-queue');
    await card.waitFor({ timeout: 90_000 });
    const verdict = await card.locator('p').first().innerText();
    console.log(`      lock-queue verdict: ${verdict}`);
    assert.match(verdict, /^Reads stalled up to /);
    assert.match(verdict, /queued behind ALTER TABLE/);
    await assertStepTicks('lockQueue');
  });

  it('step 9: the lock_timeout lesson, from its walkthrough button: attempts time out, a later one succeeds, the step ticks', async function () {
    this.timeout(240_000);
    await clickWithLockMonitorBehind('lockTimeout', 'Run the lock_timeout Lesson');
    const card = lessonCard('lock-timeout');
    await card.waitFor({ timeout: 200_000 });
    console.log(`      lock_timeout verdict: ${await card.locator('p').first().innerText()}`);
    await assertStepTicks('lockTimeout');
  });

  it('step 10: the CONCURRENTLY-waits lesson rolls back the 0002 that step 6 left applied by itself, says so, and runs', async function () {
    this.timeout(240_000);
    await clickWithLockMonitorBehind('concurrentWaits', 'Run the CONCURRENTLY-Waits Lesson');
    const card = lessonCard('concurrent-waits');
    await card.waitFor({ timeout: 200_000 });
    console.log(`      concurrent-waits verdict: ${await card.locator('p').first().innerText()}`);
    assert.match(
      extensionLog(),
      /0002_add_email_index_concurrently is applied: rolling it back to 0001_initial first/,
    );
    assert.match(
      extensionLog(),
      /Rolled back 0002_add_email_index_concurrently; the lesson starts from 0001_initial/,
    );
    await assertStepTicks('concurrentWaits');
  });

  it('step 11: the failed-CONCURRENTLY lesson, from its walkthrough button: the invalid index is found and dropped', async function () {
    this.timeout(240_000);
    await clickWithLockMonitorBehind('failedConcurrently', 'Run the Failed-CONCURRENTLY Lesson');
    const card = lessonCard('failed-concurrently');
    await card.waitFor({ timeout: 200_000 });
    console.log(`      failed-concurrently verdict: ${await card.locator('p').first().innerText()}`);
    await assertStepTicks('failedConcurrently');
  });

  it('shows all 11 walkthrough steps as completed', async function () {
    this.timeout(60_000);
    await wb.runCommand('Migration Lab: Open Walkthrough');
    await wb.walkthroughStep('compare').waitFor({ timeout: 20_000 });
    for (const id of STEPS) {
      await waitUntil(`the ${id} step is ticked`, () => wb.walkthroughStepDone(id), 15_000);
    }
    await wb.walkthroughStep('compare').click(); // show the comparison step's text, as a person reading back would
    await page.waitForTimeout(1500);
    await session.screenshot('walkthrough.png');
  });

  it('a window reload keeps the runs, the lesson results and the comparison, and orphans no PostgreSQL', async function () {
    this.timeout(180_000);
    const port = session.settings['migrationLab.postgres.port'];
    const reloaded = page.waitForEvent('load', { timeout: 90_000 });
    await wb.runCommand('Developer: Reload Window');
    await reloaded;
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await wb.statusBarItem('Postgres').waitFor({ timeout: 90_000 });
    const status = (await wb.statusBarItem('Postgres').innerText()).trim();
    if (/stopped/.test(status)) {
      // deactivate() stopped it within its budget: nothing may still listen on the port.
      assert.equal(await portAnswers(port), false, `a PostgreSQL still listens on ${port} after the reload`);
    } else {
      assert.match(status, new RegExp(`:${port}`));
      assert.match(extensionLog(), /Re-attached to the embedded PostgreSQL/);
    }
    // The Lock Monitor comes back with the window, with every run and lesson result and the comparison.
    await wb.focusEditorTab('Lock Monitor');
    await runCard('locking').first().waitFor({ timeout: 30_000 });
    await runCard('concurrent').first().waitFor({ timeout: 10_000 });
    for (const name of ['lock-queue', 'lock-timeout', 'concurrent-waits', 'failed-concurrently']) {
      await lessonCard(name).waitFor({ timeout: 10_000 });
    }
    await wb.runCommand('Migration Lab: Compare Runs');
    await wb.lockMonitor.locator('#comparison .conclusion').waitFor({ timeout: 20_000 });
    // …and in the Runs view (newest first; the list draws only the rows in view).
    await wb.runCommand('Migration Lab: Focus on Runs View');
    const runsPane = page.locator('.pane', { has: page.locator('.pane-header[aria-label="Runs Section"]') });
    await runsPane
      .locator('.monaco-list-row', { hasText: '0002_add_email_index_concurrently' })
      .first()
      .waitFor({
        timeout: 15_000,
      });
    await wb.runCommand('View: Toggle Primary Side Bar Visibility');
    await wb.runCommand('Migration Lab: Open Walkthrough');
    for (const id of STEPS) {
      await waitUntil(`the ${id} step is still ticked`, () => wb.walkthroughStepDone(id), 15_000);
    }
  });

  it('a killed extension host leaves PostgreSQL running: the next one re-attaches to it, says so, and shows it running', async function () {
    this.timeout(180_000);
    const port = session.settings['migrationLab.postgres.port'];
    if (!(await wb.statusBarItem(`:${port}`).isVisible())) {
      await wb.runCommand('Migration Lab: Start PostgreSQL');
      await wb.statusBarItem(`:${port}`).waitFor({ timeout: 90_000 });
    }
    const dataDir = path.join(session.userData, EXTENSION_STORAGE, 'postgres', 'data');
    const postgresPid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const stat = fs.readFileSync(`/proc/${postgresPid}/stat`, 'utf8');
    const extensionHostPid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    assert.match(fs.readFileSync(`/proc/${extensionHostPid}/cmdline`, 'utf8'), /extensionHost/);
    const reattachedBefore = (extensionLog().match(/Re-attached to the embedded PostgreSQL/g) ?? []).length;
    process.kill(extensionHostPid, 'SIGKILL'); // as a crash would: no deactivate()
    await waitUntil(
      'the new extension host re-attached (logged)',
      () => (extensionLog().match(/Re-attached to the embedded PostgreSQL/g) ?? []).length > reattachedBefore,
      90_000,
    );
    assert.match(
      extensionLog(),
      new RegExp(`Re-attached to the embedded PostgreSQL [\\d.]+ \\(pid ${postgresPid}\\)`),
    );
    await wb.statusBarItem(`:${port}`).waitFor({ timeout: 30_000 });
    // The Database view shows it running. (VS Code does not revive a webview panel after its extension
    // host crashed: that tab stays as it was until reopened.)
    await wb.runCommand('Migration Lab: Focus on Database View');
    const databasePane = page.locator('.pane', {
      has: page.locator('.pane-header[aria-label="Database Section"]'),
    });
    await databasePane
      .locator('.monaco-list-row', { hasText: /Running\s*PostgreSQL 1\d\.\d+/ })
      .first()
      .waitFor({ timeout: 30_000 });
    await wb.runCommand('View: Toggle Primary Side Bar Visibility');
    // Reopened, the Lock Monitor shows it running too.
    await wb.runCommand('View: Close All Editors');
    await wb.runCommand('Migration Lab: Open Lock Monitor');
    await wb.lockMonitor
      .locator('#status', { hasText: /PostgreSQL 1\d\.\d+ · migration_lab\.large_email/ })
      .waitFor({ timeout: 30_000 });
  });

  it('the probe starts again after PostgreSQL restarts, when the panel had it on', async function () {
    this.timeout(180_000);
    if ((await wb.lockMonitor.locator('#status', { hasText: 'probe on' }).count()) === 0) {
      await wb.clickPanelButton('startProbe');
    }
    await wb.lockMonitor.locator('#status', { hasText: 'probe on' }).waitFor({ timeout: 30_000 });
    await wb.runCommand('Migration Lab: Stop PostgreSQL');
    await wb.statusBarItem('Postgres stopped').waitFor({ timeout: 45_000 });
    await wb.runCommand('Migration Lab: Start PostgreSQL');
    await wb.statusBarItem(`:${session.settings['migrationLab.postgres.port']}`).waitFor({ timeout: 90_000 });
    await wb.focusEditorTab('Lock Monitor');
    await wb.lockMonitor.locator('#status', { hasText: 'probe on' }).waitFor({ timeout: 30_000 });
    assert.match(extensionLog(), /Probe started again: it was on when PostgreSQL stopped/);
  });

  it('a lesson it cannot prepare by itself says why and offers the way out as a button; the log names real functions', async function () {
    this.timeout(120_000);
    await wb.runCommand('Migration Lab: Reset Lab');
    await wb.waitForNotification('Lab reset', 30_000);
    await wb.clearNotifications();
    await wb.runCommand('Migration Lab: Lesson: The Lock-Queue Trap');
    const toast = page.locator('.notifications-toasts .notification-toast', {
      hasText: 'seed the tables first',
    });
    await toast.waitFor({ timeout: 30_000 });
    // The stack frame of the packaged (production) bundle names the function, not a minified letter.
    await waitUntil('the error is in the log', () => /seed the tables first/.test(extensionLog()));
    assert.match(extensionLog(), /at (async )?runLesson \(.*extension\.js/);
    await toast.locator('.monaco-button', { hasText: 'Seed Tables' }).click();
    await wb.quickPickRow('Custom…').waitFor({ timeout: 15_000 });
    assert.match(await wb.focusedQuickPickRow.innerText(), /^5M rows/);
    await page.keyboard.press('Escape');
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
    await session.screenshot('lock-monitor-light.png');
  });

  it('stops PostgreSQL from the command palette', async function () {
    this.timeout(60_000);
    await wb.runCommand('Migration Lab: Stop PostgreSQL');
    await wb.statusBarItem('Postgres stopped').waitFor({ timeout: 45_000 });
  });
});

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function portAnswers(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
