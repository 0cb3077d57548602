// What run-ui-tests.js hands to the UI tests: the workbench page and where to put screenshots.
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
};
