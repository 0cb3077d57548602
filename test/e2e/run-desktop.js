#!/usr/bin/env node
// The extension-host tests (out/test/extension/index.js) in a desktop VS Code, through @vscode/test-electron:
// for a laptop WITH internet (it downloads VS Code into .vscode-test/ once). CI here has no route to the
// VS Code update server and runs the same tests in code-server instead (run-extension-tests.js).
//
//   npm run test:desktop                      # VS Code stable, embedded PostgreSQL
//   VSCODE_VERSION=1.100.0 npm run test:desktop
//   MIGRATION_LAB_TEST_PROVIDER=docker npm run test:desktop   # where no embedded binaries exist (macOS)
//
// Exit code: 0 passed, 1 a test failed, 2 VS Code could not be downloaded or started.
const path = require('node:path');
const s = require('./support');

async function main() {
  let runTests;
  try {
    ({ runTests } = require('@vscode/test-electron'));
  } catch {
    throw new s.InfraError('@vscode/test-electron is not installed; run npm ci');
  }
  const sandbox = s.makeSandbox('mlab-desktop-', {
    'migrationLab.postgres.provider': process.env.MIGRATION_LAB_TEST_PROVIDER || 'embedded',
    'migrationLab.postgres.port': await s.freePort(),
    'migrationLab.probe.port': await s.freePort(),
  });
  let passed = false;
  let ran = false;
  try {
    await runTests({
      version: process.env.VSCODE_VERSION || 'stable',
      extensionDevelopmentPath: s.ROOT,
      extensionTestsPath: path.join(s.ROOT, 'out', 'test', 'extension', 'index.js'),
      launchArgs: [
        sandbox.workspace,
        '--user-data-dir',
        sandbox.userData,
        '--extensions-dir',
        sandbox.extensions,
        '--disable-extensions', // other extensions; the one under development still loads
      ],
    });
    passed = true;
  } catch (e) {
    // runTests rejects with "Test run failed with code N" when the tests ran and failed.
    if (/Test run failed with code/.test(String(e?.message))) {
      ran = true;
      s.log(`extension host tests FAILED (${e.message})`);
    } else {
      throw new s.InfraError(
        `could not download or start VS Code with @vscode/test-electron (it needs internet): ${e?.message ?? e}`,
      );
    }
  } finally {
    s.cleanUp(sandbox, passed || !ran); // keep the logs of a run that failed; nothing to see otherwise
  }
  s.log(`extension host tests ${passed ? 'passed' : 'failed'}`);
  process.exit(passed ? 0 : 1);
}

main().catch(s.fail);
