import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ConnectionTarget } from '../../src/core/db';
import { memoryLogger } from '../../src/core/log';
import {
  DOCKER_DAEMON_NOT_RUNNING,
  DockerComposePostgres,
  DockerError,
} from '../../src/core/postgres/docker';
import type { PostgresProvider, ProviderKind } from '../../src/core/postgres/provider';
import { resolveProviderKind, startWithFallback } from '../../src/core/postgres/resolve';

const repoRoot = resolve(__dirname, '../../..');
const fakeDockerDir = join(repoRoot, 'test/fixtures/fake-docker');
const skipOnWindows = process.platform === 'win32' ? 'the fake docker is a shebang script' : false;

/** A stand-in provider that never launches anything; records whether it was started. */
function fakeProvider(kind: ProviderKind, fail?: Error): PostgresProvider & { started: number } {
  const target: ConnectionTarget = { host: '127.0.0.1', port: 1, database: `${kind}_db`, user: 'u' };
  return {
    kind,
    started: 0,
    async start() {
      this.started++;
      if (fail) throw fail;
      return target;
    },
    async stop() {},
    describe: () => ({ host: target.host, port: target.port, database: target.database }),
  };
}

void describe('resolveProviderKind', () => {
  for (const setting of ['docker', 'embedded', 'external'] as const) {
    void it(`returns "${setting}" as given, without probing Docker`, async () => {
      let probed = false;
      const kind = await resolveProviderKind(setting, {
        dockerAvailable: async () => (probed = true),
        logger: memoryLogger(),
      });
      assert.equal(kind, setting);
      assert.equal(probed, false);
    });
  }

  void it('auto: docker when Docker is available, embedded otherwise, logging why at info', async () => {
    const logger = memoryLogger();
    assert.equal(await resolveProviderKind('auto', { dockerAvailable: async () => true, logger }), 'docker');
    assert.equal(
      await resolveProviderKind('auto', { dockerAvailable: async () => false, logger }),
      'embedded',
    );
    assert.equal(logger.lines.length, 2);
    assert.match(logger.lines[0], /^info .*Docker is available/);
    assert.match(logger.lines[1], /^info .*embedded/);
  });
});

void describe('startWithFallback with fakes', () => {
  void it('auto falls back to embedded when Docker turns out unusable at start, logging the sentence', async () => {
    const logger = memoryLogger();
    const docker = fakeProvider('docker', new DockerError('daemon-not-running', DOCKER_DAEMON_NOT_RUNNING));
    const embedded = fakeProvider('embedded');
    const started = await startWithFallback('auto', {
      dockerAvailable: async () => true,
      create: (kind) => (kind === 'docker' ? docker : embedded),
      logger,
    });
    assert.equal(started.provider, embedded);
    assert.equal(started.target.database, 'embedded_db');
    assert.equal(docker.started, 1);
    assert.ok(logger.lines.some((l) => l.startsWith('info') && l.includes(DOCKER_DAEMON_NOT_RUNNING)));
  });

  void it('does not fall back when the container itself fails (unhealthy)', async () => {
    const unhealthy = new DockerError('unhealthy', 'The PostgreSQL container did not become healthy.');
    const embedded = fakeProvider('embedded');
    await assert.rejects(
      startWithFallback('auto', {
        dockerAvailable: async () => true,
        create: (kind) => (kind === 'docker' ? fakeProvider('docker', unhealthy) : embedded),
        logger: memoryLogger(),
      }),
      (e: unknown) => e === unhealthy,
    );
    assert.equal(embedded.started, 0);
  });

  void it('does not fall back when the user chose docker explicitly', async () => {
    const embedded = fakeProvider('embedded');
    await assert.rejects(
      startWithFallback('docker', {
        dockerAvailable: async () => true,
        create: (kind) =>
          kind === 'docker'
            ? fakeProvider('docker', new DockerError('daemon-not-running', DOCKER_DAEMON_NOT_RUNNING))
            : embedded,
        logger: memoryLogger(),
      }),
      { message: DOCKER_DAEMON_NOT_RUNNING },
    );
    assert.equal(embedded.started, 0);
  });

  void it('passes the abort signal to the provider', async () => {
    let seen: AbortSignal | undefined;
    const controller = new AbortController();
    const provider: PostgresProvider = {
      ...fakeProvider('external'),
      async start(signal) {
        seen = signal;
        return { host: 'h', port: 5432, database: 'd', user: 'u' };
      },
    };
    await startWithFallback(
      'external',
      { dockerAvailable: async () => true, create: () => provider, logger: memoryLogger() },
      controller.signal,
    );
    assert.equal(seen, controller.signal);
  });
});

void describe('auto with the fake docker CLI', { skip: skipOnWindows }, () => {
  const savedPath = process.env.PATH;
  const savedMode = process.env.FAKE_DOCKER_MODE;
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'resolve-test-'));
    chmodSync(join(fakeDockerDir, 'docker'), 0o755);
    process.env.PATH = `${fakeDockerDir}${delimiter}${savedPath ?? ''}`;
  });
  afterEach(() => {
    process.env.PATH = savedPath;
    if (savedMode === undefined) delete process.env.FAKE_DOCKER_MODE;
    else process.env.FAKE_DOCKER_MODE = savedMode;
    rmSync(dir, { recursive: true, force: true });
  });

  function deps(logger = memoryLogger()) {
    const embedded = fakeProvider('embedded');
    return {
      embedded,
      logger,
      dockerAvailable: () => DockerComposePostgres.isAvailable(),
      create: (kind: ProviderKind): PostgresProvider =>
        kind === 'docker'
          ? new DockerComposePostgres({
              composeFile: join(repoRoot, 'docker-compose.yml'),
              port: 5433,
              logger,
            })
          : embedded,
    };
  }

  void it('picks docker and starts the container when docker works', async () => {
    process.env.FAKE_DOCKER_MODE = 'ok';
    const d = deps();
    const started = await startWithFallback('auto', d);
    assert.equal(started.provider.kind, 'docker');
    assert.equal(started.target.database, 'migration_lab');
    assert.equal(d.embedded.started, 0);
  });

  void it('picks embedded when the daemon is not running', async () => {
    process.env.FAKE_DOCKER_MODE = 'no-daemon';
    const d = deps();
    const started = await startWithFallback('auto', d);
    assert.equal(started.provider, d.embedded);
    assert.equal(d.embedded.started, 1);
    assert.ok(d.logger.lines.some((l) => /^info .*embedded/.test(l)));
  });

  void it('picks embedded when docker is not installed at all', async () => {
    process.env.PATH = join(dir, 'empty-bin');
    const d = deps();
    const started = await startWithFallback('auto', d);
    assert.equal(started.provider, d.embedded);
  });

  void it('falls back when `docker info` works but compose is missing', async () => {
    process.env.FAKE_DOCKER_MODE = 'no-compose';
    const d = deps();
    const started = await startWithFallback('auto', d);
    assert.equal(started.provider, d.embedded);
    assert.ok(d.logger.lines.some((l) => l.startsWith('info') && l.includes('Compose plugin')));
  });
});
