#!/usr/bin/env node
// Runs the extension-host integration tests (out/test/extension/index.js, the same `run(): Promise<void>`
// contract as @vscode/test-electron) inside a real VS Code extension host: code-server's, driven by Chromium.
//
//   node test/e2e/run-extension-tests.js [--extensionTestsPath=out/test/extension/index.js]
//
// Needs `node scripts/build.mjs` and `node scripts/compile-tests.mjs` first (npm run test:extension does both)
// and code-server from `bash scripts/setup-vscode-server.sh`.
// Exit code: 0 passed, 1 a test failed, 2 infrastructure (code-server or Chromium did not start, timeout).
// KEEP_E2E_TMP=1 keeps the scratch folder (settings, code-server.log, PostgreSQL data) for a look afterwards.
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');
const s = require('./support');

const arg = (name, fallback) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : fallback;
};
const devPath = path.resolve(arg('extensionDevelopmentPath', s.ROOT));
const testsPath = path.resolve(arg('extensionTestsPath', path.join(s.ROOT, 'out/test/extension/index.js')));
const TIMEOUT_MS = Number(process.env.EXTENSION_TESTS_TIMEOUT_MS || 300_000);

/** The page console gets ['%c[Extension Host] %c' + format, css, css, ...args]; print what the host logged. */
function extensionHostLine(args) {
  const first = String(args[0]);
  const m = /^%c\[Extension Host\]\s*((?:%c)?)/.exec(first);
  if (!m) return util.format(...args);
  const styles = 1 + (m[1] ? 1 : 0); // one CSS argument per %c
  return util.format(first.slice(m[0].length), ...args.slice(1 + styles));
}

async function main() {
  s.exitOnSignals();
  for (const [file, fix] of [
    [path.join(devPath, 'dist', 'extension.js'), 'node scripts/build.mjs'],
    [testsPath, 'node scripts/compile-tests.mjs'],
  ]) {
    if (!fs.existsSync(file)) throw new s.InfraError(`${file} does not exist; run ${fix} first`);
  }
  const server = s.vscodeServer();
  const sandbox = s.makeSandbox('mlab-ext-', {
    // The tests start a real PostgreSQL: the embedded one (no Docker needed) on free ports.
    'migrationLab.postgres.provider': 'embedded',
    'migrationLab.postgres.port': await s.freePort(),
    'migrationLab.probe.port': await s.freePort(),
  });
  s.log(`code-server ${server.version}, scratch folder ${sandbox.dir}`);
  const cs = await s.startCodeServer(server, sandbox, { smokeTestDriver: true });
  s.log(`code-server listening on ${cs.base}`);

  const payload = [
    ['extensionDevelopmentPath', `vscode-remote://${cs.authority}${devPath}`],
    ['extensionTestsPath', `vscode-remote://${cs.authority}${testsPath}`],
    ['debugId', 'cli'], // makes the extension host forward console.* to the page console, reprinted below
  ];
  const url = `${cs.base}/?folder=${encodeURIComponent(sandbox.workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;

  const browser = await s.launchChromium(sandbox);
  const page = await browser.newPage();
  let settle;
  const finished = new Promise((resolve) => (settle = resolve));
  // The workbench calls window.codeAutomationExit(code) when the tests' run() settles.
  await page.exposeFunction('codeAutomationExit', (code) => settle(code));
  let printing = Promise.resolve(); // console messages are async to read; keep them in order
  page.on(
    'console',
    (m) =>
      (printing = printing.then(async () => {
        const text = m.text();
        if (text.startsWith('%c[Extension Host]')) {
          // ['%c[Extension Host] %c' + format, 'color: blue', 'color: ', ...args]
          const args = await Promise.all(m.args().map((a) => a.jsonValue().catch(() => '?')));
          const line = extensionHostLine(args);
          if (line !== '%') console.log(line); // '%c[Extension Host]%' is a stray the workbench logs per test file
        } else if (process.env.E2E_VERBOSE) {
          console.log(`  [browser ${m.type()}] ${text.split('\n')[0]}`);
        }
      })),
  );
  page.on('pageerror', (e) => process.env.E2E_VERBOSE && console.log(`  [page error] ${e.message}`));
  await page.goto(url);
  const code = await s.withTimeout(
    Promise.race([finished, cs.exited.then(() => 'server-exit')]),
    TIMEOUT_MS,
    () => 'timeout',
  );
  await printing;
  await browser.close().catch(() => {});
  cs.stop();
  if (code === 'timeout' || code === 'server-exit') {
    throw new s.InfraError(
      code === 'timeout'
        ? `the extension tests did not finish within ${TIMEOUT_MS / 1000} s; see ${sandbox.log} (kept)`
        : `code-server exited during the tests; see ${sandbox.log} (kept)`,
    );
  }
  s.log(`extension host tests ${code === 0 ? 'passed' : `FAILED (exit code ${code})`}`);
  s.cleanUp(sandbox, code === 0);
  process.exit(code === 0 ? 0 : 1);
}

main().catch(s.fail);
