// What a person does in the VS Code workbench, as Playwright calls: the command palette, quick picks,
// notifications, the walkthrough page, the Lock Monitor webview. Selectors were read off code-server
// 4.139.1's (VS Code 1.139) real DOM.
const EXTENSION_ID = 'migration-lab.migration-lab';

class Workbench {
  /** @param {import('playwright-core').Page} page */
  constructor(page) {
    this.page = page;
  }

  get quickInput() {
    return this.page.locator('.quick-input-widget');
  }

  quickPickRow(text) {
    return this.page
      .locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: text })
      .first();
  }

  /**
   * F1, type the command's title, Enter on its row. Right after the workbench loads the palette may not
   * list contributed commands yet, so it retries.
   */
  async runCommand(title, { tries = 8 } = {}) {
    const page = this.page;
    for (let attempt = 1; ; attempt++) {
      await page.keyboard.press('Escape');
      await page.keyboard.press('F1');
      const input = this.quickInput.locator('input');
      const row = this.page
        .locator('.quick-input-widget .quick-input-list .monaco-list-row')
        .filter({ has: page.locator('.label-name', { hasText: title }) })
        .first();
      try {
        // A webview that takes the focus as it loads closes the palette: then open it again.
        await input.waitFor({ state: 'visible', timeout: 10_000 });
        await input.fill(`>${title}`, { timeout: 5000 });
        await row.waitFor({ timeout: 4000 });
        await row.click();
        return;
      } catch (e) {
        if (attempt >= tries)
          throw new Error(`the command palette has no "${title}": ${e.message.split('\n')[0]}`, { cause: e });
        await page.waitForTimeout(500);
      }
    }
  }

  /** Picks a row in the open quick pick by its visible text. */
  async pick(text, timeout = 15_000) {
    const row = this.quickPickRow(text);
    await row.waitFor({ timeout });
    await row.click();
  }

  /** The row the open quick pick highlights (what Enter would pick). */
  get focusedQuickPickRow() {
    return this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row.focused').first();
  }

  /** Types into the open input box and presses Enter. */
  async typeAndEnter(value) {
    const input = this.quickInput.locator('input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(value);
    await this.page.keyboard.press('Enter');
  }

  /** A notification (toast or, if toasts are hidden or gone, the notification centre) containing text. */
  async waitForNotification(text, timeout = 30_000) {
    const toast = this.page.locator('.notifications-toasts .notification-toast', { hasText: text }).first();
    try {
      await toast.waitFor({ timeout });
      return (await toast.innerText()).trim();
    } catch {
      await this.runCommand('Notifications: Show Notifications');
      const item = this.page
        .locator('.notifications-center .notification-list-item', { hasText: text })
        .first();
      await item.waitFor({ timeout: 5000 });
      const found = (await item.innerText()).trim();
      await this.page.keyboard.press('Escape');
      return found;
    }
  }

  async clearNotifications() {
    await this.runCommand('Notifications: Clear All Notifications').catch(() => {});
  }

  /** The status bar item of the extension ("Postgres 18.x :PORT"). */
  statusBarItem(text) {
    return this.page.locator('.statusbar-item', { hasText: text }).first();
  }

  // ---- the walkthrough (Welcome / getting started page) ----

  get walkthroughPage() {
    return this.page.locator('.gettingStartedContainer');
  }

  /** The open walkthrough's title, when it is `title`. */
  walkthroughTitle(title) {
    return this.page
      .locator('.gettingStartedContainer h2, .gettingStartedContainer .category-title', { hasText: title })
      .first();
  }

  /** The step's header button; `aria-checked` is "true" once its completion event fired. */
  walkthroughStep(id) {
    return this.page.locator(`.gettingStartedContainer button.getting-started-step[data-step-id$="${id}"]`);
  }

  async walkthroughStepDone(id) {
    return (await this.walkthroughStep(id).getAttribute('aria-checked')) === 'true';
  }

  /** Expands a step and clicks the button of its description (the command link rendered as a button). */
  async clickWalkthroughButton(stepId, label) {
    const step = this.walkthroughStep(stepId);
    await step.waitFor({ timeout: 20_000 });
    if ((await step.getAttribute('aria-expanded')) !== 'true') {
      await step.click();
      // Expanding loads the step's markdown media in a webview, which takes focus once it has loaded; a
      // quick pick opened before that would close on the focus loss.
      await this.page.waitForTimeout(1500);
    }
    const button = step.locator('.step-description-container .monaco-button, .step-description-container a', {
      hasText: label,
    });
    await button.first().waitFor({ state: 'visible', timeout: 10_000 });
    await button.first().click();
  }

  async focusEditorTab(label) {
    const tab = this.page.locator('.tabs-container .tab', { hasText: label }).first();
    await tab.waitFor({ timeout: 15_000 });
    await tab.click();
  }

  // ---- the Lock Monitor webview ----

  /**
   * The DOM of the Lock Monitor panel: outer iframe.webview → inner #active-frame. The outer frame is picked
   * by the extension that owns it: the walkthrough's markdown media is a webview too.
   */
  get lockMonitor() {
    return this.page
      .frameLocator(`iframe.webview[src*="extensionId=${EXTENSION_ID}"]`)
      .last()
      .frameLocator('#active-frame');
  }

  /** Whether the Lock Monitor is in front in some editor group (a background tab's webview is not rendered). */
  async lockMonitorVisible() {
    return this.page.locator(`iframe.webview[src*="extensionId=${EXTENSION_ID}"]`).first().isVisible();
  }

  /** Clicks a panel button once it is enabled (disabled buttons stay focusable, marked aria-disabled). */
  async clickPanelButton(action, timeout = 30_000) {
    const button = this.lockMonitor.locator(`button[data-action=${action}][aria-disabled="false"]`);
    await button.waitFor({ timeout });
    await button.click();
  }
}

/**
 * Polls `condition` (sync or async) every `stepMs` until it holds, or fails naming `what`; a condition that
 * throws (a frame not there yet) counts as not holding.
 */
async function waitUntil(what, condition, timeoutMs = 30_000, stepMs = 250) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (
      await Promise.resolve()
        .then(condition)
        .catch(() => false)
    )
      return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

module.exports = { Workbench, waitUntil };
