// What run-ui-tests.js hands to the UI tests: the workbench page and where to put screenshots, and the two
// ways the tests take them.
const path = require('node:path');

module.exports = {
  /** @type {import('playwright-core').Page} */
  page: undefined,
  /** The user settings the runner wrote (ports, provider). */
  settings: {},
  resultsDir: '',
  /** code-server's --user-data-dir: the extension's logs (logs/<time>/exthost<N>/…) and global storage. */
  userData: '',
  /** The folder code-server opened (the trace test copies its migrations in). */
  workspace: '',
  /** Screenshots taken, for the summary. */
  screenshots: [],

  /** Saves the page as `name` in the results folder and lists it in the summary. */
  async screenshot(name) {
    const file = path.join(this.resultsDir, name);
    await this.page.screenshot({ path: file });
    this.screenshots.push(file);
  },

  /** For afterEach: when `test` failed, saves the page as failure.png (best effort) and says where. */
  async screenshotIfFailed(test) {
    if (test?.state !== 'failed') return;
    const file = path.join(this.resultsDir, 'failure.png');
    await this.page.screenshot({ path: file }).catch(() => {});
    console.log(`    screenshot of the failure: ${file}`);
  },
};
