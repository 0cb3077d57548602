// What run-ui-tests.js hands to the UI tests: the workbench page and where to put screenshots.
module.exports = {
  /** @type {import('playwright-core').Page} */
  page: undefined,
  /** The user settings the runner wrote (ports, provider). */
  settings: {},
  resultsDir: '',
  /** Screenshots taken, for the summary. */
  screenshots: [],
};
