// The extensionTestsPath entry (compiled to out/test/extension/index.js): VS Code's extension host loads it
// and awaits run(). The same file runs under code-server (test/e2e/run-extension-tests.js, CI) and under
// @vscode/test-electron on a desktop VS Code (test/e2e/run-desktop.js).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  // Suites run in file-name order: the ones that need PostgreSQL stopped come before the one that starts it.
  const mocha = new Mocha({ ui: 'tdd', color: false, reporter: 'spec', timeout: 60_000, bail: false });
  const dir = join(__dirname, 'suite');
  for (const file of readdirSync(dir).sort()) {
    if (file.endsWith('.test.js')) mocha.addFile(join(dir, file));
  }
  return new Promise((resolve, reject) => {
    try {
      mocha.run((failures) =>
        failures > 0 ? reject(new Error(`${failures} extension host test(s) failed.`)) : resolve(),
      );
    } catch (e) {
      reject(e instanceof Error ? e : new Error(String(e)));
    }
  });
}
