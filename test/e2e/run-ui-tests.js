#!/usr/bin/env node
// UI tests of the PACKAGED extension: installs the .vsix into a fresh code-server (real VS Code 1.139 web
// workbench + server extension host), opens it in Debian's Chromium with playwright-core, and runs
// test/e2e/ui/*.test.js (mocha), which click through the walkthrough and the Lock Monitor like a person.
//
//   npm run package && node test/e2e/run-ui-tests.js [--vsix=migration-lab-linux-x64-0.1.0.vsix]
//
// Screenshots go to test-results/ (walkthrough.png, lock-monitor-*.png; failure.png when a step fails).
// Exit code: 0 passed, 1 a test failed, 2 infrastructure (code-server/Chromium missing or not starting).
// KEEP_E2E_TMP=1 keeps the scratch folder (settings, code-server.log, extension logs) after a pass.
const fs = require('node:fs');
const path = require('node:path');
const Mocha = require('mocha');
const s = require('./support');
const session = require('./ui/session');

const SCREENSHOTS = ['walkthrough.png', 'lock-monitor-locking-dark.png', 'lock-monitor-light.png'];

function vsixPath() {
  const given = process.argv.find((a) => a.startsWith('--vsix='));
  if (given) return path.resolve(given.slice('--vsix='.length));
  const pkg = JSON.parse(fs.readFileSync(path.join(s.ROOT, 'package.json'), 'utf8'));
  return path.join(s.ROOT, `${pkg.name}-${process.platform}-${process.arch}-${pkg.version}.vsix`);
}

async function main() {
  s.exitOnSignals();
  const vsix = vsixPath();
  if (!fs.existsSync(vsix)) throw new s.InfraError(`${vsix} does not exist; run npm run package first`);
  const server = s.vscodeServer();
  const settings = {
    // The embedded PostgreSQL (Docker may be absent), on ports nothing else uses.
    'migrationLab.postgres.provider': 'embedded',
    'migrationLab.postgres.port': await s.freePort(),
    'migrationLab.probe.port': await s.freePort(),
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'chat.commandCenter.enabled': false,
    // The trace test's tables stay small: it checks the editor's side; the tracer's tests measure at scale.
    'migrationLab.trace.rows': 2_000,
  };
  const sandbox = s.makeSandbox('mlab-ui-', settings);
  const resultsDir = path.join(s.ROOT, 'test-results');
  fs.mkdirSync(resultsDir, { recursive: true });
  for (const f of [...SCREENSHOTS, 'lock-monitor-comparison.png', 'failure.png']) {
    fs.rmSync(path.join(resultsDir, f), { force: true });
  }

  s.log(`code-server ${server.version}, scratch folder ${sandbox.dir}`);
  s.installVsix(server, sandbox, vsix);
  s.log(`installed ${path.relative(s.ROOT, vsix)} (${(fs.statSync(vsix).size / 1024 / 1024).toFixed(1)} MB)`);
  const cs = await s.startCodeServer(server, sandbox);
  s.log(`code-server listening on ${cs.base}`);
  const browser = await s.launchChromium(sandbox);
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on('pageerror', (e) => process.env.E2E_VERBOSE && console.log(`  [page error] ${e.message}`));
  page.on('console', (m) => process.env.E2E_VERBOSE && console.log(`  [browser ${m.type()}] ${m.text()}`));
  await page.goto(`${cs.base}/?folder=${encodeURIComponent(sandbox.workspace)}`);
  try {
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
  } catch {
    throw new s.InfraError(`the VS Code workbench did not load within 60 s; see ${sandbox.log}`);
  }
  s.log('workbench loaded');

  Object.assign(session, {
    page,
    settings,
    resultsDir,
    screenshots: [],
    userData: sandbox.userData,
    workspace: sandbox.workspace,
  });
  const mocha = new Mocha({ reporter: 'spec', color: false, timeout: 60_000, bail: true });
  const dir = path.join(__dirname, 'ui');
  // UI_TESTS=trace,panel runs only the files whose names contain one of those words (all by default).
  const only = (process.env.UI_TESTS ?? '').split(',').filter(Boolean);
  for (const f of fs.readdirSync(dir).sort()) {
    if (f.endsWith('.test.js') && (only.length === 0 || only.some((w) => f.includes(w))))
      mocha.addFile(path.join(dir, f));
  }
  let runner;
  const failures = await new Promise((resolve) => (runner = mocha.run(resolve)));

  await browser.close().catch(() => {});
  cs.stop();
  for (const f of session.screenshots) s.log(`screenshot ${path.relative(s.ROOT, f)}`);
  s.cleanUp(sandbox, failures === 0);
  s.log(`UI tests ${failures === 0 ? 'passed' : `FAILED (${failures})`}`);
  // A plain closing line that CI can read (mocha's own summary is not one it knows).
  console.log(`ui: ${runner.stats.passes} passed, ${failures} failed`);
  process.exit(failures === 0 ? 0 : 1);
}

main().catch(s.fail);
