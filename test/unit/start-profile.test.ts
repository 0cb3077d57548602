import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';

const module = pathToFileURL(join(__dirname, '../../../scripts/profile-settings.mjs')).href;

/** Runs scripts/profile-settings.mjs (an ES module `npm start` imports) on `existing` settings.json text. */
function profileSettings(existing: string | undefined): Record<string, unknown> | undefined {
  const out = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { profileSettingsText } = await import(${JSON.stringify(module)});
       const text = profileSettingsText(process.argv[1] === 'none' ? undefined : process.argv[1]);
       process.stdout.write(text === undefined ? 'unchanged' : text);`,
      existing ?? 'none',
    ],
    { encoding: 'utf8' },
  );
  return out === 'unchanged' ? undefined : (JSON.parse(out) as Record<string, unknown>);
}

describe('the profile npm start creates for code-server', () => {
  it('turns off port auto-forwarding (no "Open in Browser" toasts for 5433 and 8001 over the panel)', () => {
    const created = profileSettings(undefined);
    assert.equal(created?.['remote.autoForwardPorts'], false);
    assert.equal(created?.['workbench.startupEditor'], 'none');
  });

  it("adds it to a profile made by an earlier npm start, keeping the person's own settings", () => {
    const updated = profileSettings(JSON.stringify({ 'workbench.colorTheme': 'Default Light Modern' }));
    assert.equal(updated?.['remote.autoForwardPorts'], false);
    assert.equal(updated?.['workbench.colorTheme'], 'Default Light Modern');
  });

  it('leaves a choice the person made, and a file it cannot parse, alone', () => {
    const mine = JSON.stringify({
      'remote.autoForwardPorts': true,
      'workbench.startupEditor': 'welcomePage',
      'telemetry.telemetryLevel': 'all',
      'security.workspace.trust.enabled': true,
    });
    assert.equal(profileSettings(mine), undefined);
    assert.equal(profileSettings('{ // a comment\n }'), undefined);
  });
});
