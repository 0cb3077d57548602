import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CancelledError, LabError } from '../../src/core/errors';
import { ExecTimeoutError, execCommand } from '../../src/core/exec';
import { memoryLogger } from '../../src/core/log';
import {
  DOCKER_DAEMON_NOT_RUNNING,
  DOCKER_NOT_INSTALLED,
  DockerComposePostgres,
  DockerError,
  isDockerUnavailableError,
} from '../../src/core/postgres/docker';

// Compiled to out/test/unit/, so the repository root is three levels up.
const repoRoot = resolve(__dirname, '../../..');
const fakeDockerDir = join(repoRoot, 'test/fixtures/fake-docker');
const composeFile = join(repoRoot, 'docker-compose.yml');
const PORT = 5544;
const skipOnWindows = process.platform === 'win32' ? 'the fake docker is a shebang script' : false;

interface FakeDockerCall {
  argv: string[];
  env: { MIGRATION_LAB_PORT?: string; MIGRATION_LAB_PG_MAJOR?: string };
}

/** Puts the fake `docker` first on PATH for one test and reads back what it was called with. */
function useFakeDocker() {
  const saved = {
    PATH: process.env.PATH,
    FAKE_DOCKER_MODE: process.env.FAKE_DOCKER_MODE,
    FAKE_DOCKER_LOG: process.env.FAKE_DOCKER_LOG,
  };
  let dir = '';
  const fake = {
    setMode(mode: string) {
      process.env.FAKE_DOCKER_MODE = mode;
    },
    /** PATH with no docker at all. */
    uninstall() {
      process.env.PATH = join(dir, 'empty-bin');
    },
    calls(): FakeDockerCall[] {
      const log = process.env.FAKE_DOCKER_LOG!;
      if (!existsSync(log)) return [];
      return readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as FakeDockerCall);
    },
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fake-docker-test-'));
    chmodSync(join(fakeDockerDir, 'docker'), 0o755); // in case a checkout lost the executable bit
    process.env.PATH = `${fakeDockerDir}${delimiter}${saved.PATH ?? ''}`;
    process.env.FAKE_DOCKER_MODE = 'ok';
    process.env.FAKE_DOCKER_LOG = join(dir, 'calls.jsonl');
  });
  afterEach(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return fake;
}

function lab(options: { startTimeoutMs?: number; composeFile?: string } = {}) {
  const logger = memoryLogger();
  const provider = new DockerComposePostgres({
    composeFile: options.composeFile ?? composeFile,
    projectName: 'migration-lab',
    port: PORT,
    logger,
    startTimeoutMs: options.startTimeoutMs,
  });
  return { provider, logger };
}

/** Runs start() expecting a DockerError, and checks it is one sentence with Docker's stderr kept in detail. */
async function startFailure(provider: DockerComposePostgres): Promise<DockerError> {
  const error = await provider.start().then(
    () => assert.fail('start() should have failed'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof DockerError, `expected a DockerError, got ${String(error)}`);
  assert.ok(error instanceof LabError);
  assert.doesNotMatch(error.message, /\n/, 'the user sentence is one line');
  assert.match(error.message, /\.$/);
  return error;
}

void describe('execCommand', () => {
  void it('returns exit code, stdout and stderr without throwing on a non-zero exit', async () => {
    const result = await execCommand(process.execPath, [
      '-e',
      'process.stdout.write("out"); process.stderr.write("err"); process.exit(3)',
    ]);
    assert.deepEqual(result, { code: 3, stdout: 'out', stderr: 'err' });
  });

  void it('passes the given environment to the child', async () => {
    const result = await execCommand(
      process.execPath,
      ['-e', 'process.stdout.write(process.env.LAB_X ?? "")'],
      {
        env: { ...process.env, LAB_X: 'seen' },
      },
    );
    assert.equal(result.stdout, 'seen');
  });

  void it('rejects with ENOENT when the command does not exist', async () => {
    await assert.rejects(execCommand('migration-lab-no-such-command', []), { code: 'ENOENT' });
  });

  void it('kills the child and rejects with ExecTimeoutError after timeoutMs', async () => {
    const started = Date.now();
    await assert.rejects(
      execCommand(process.execPath, ['-e', 'process.stderr.write("partial"); setInterval(() => {}, 1000)'], {
        timeoutMs: 500,
      }),
      (e: unknown) => e instanceof ExecTimeoutError && e.timeoutMs === 500,
    );
    assert.ok(Date.now() - started < 5_000, 'the timeout fired promptly');
  });

  void it('rejects with CancelledError when the signal aborts, and before spawning when already aborted', async () => {
    const controller = new AbortController();
    const running = execCommand(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
      signal: controller.signal,
    });
    controller.abort();
    await assert.rejects(running, CancelledError);
    await assert.rejects(
      execCommand('migration-lab-no-such-command', [], { signal: AbortSignal.abort() }),
      CancelledError,
    );
  });
});

void describe('DockerComposePostgres with a fake docker', { skip: skipOnWindows }, () => {
  const fake = useFakeDocker();

  void it('ships the docker-compose.yml that -f points at', () => {
    const text = readFileSync(composeFile, 'utf8');
    assert.match(text, /image: postgres:\$\{MIGRATION_LAB_PG_MAJOR:-16\}/);
    assert.match(text, /127\.0\.0\.1:\$\{MIGRATION_LAB_PORT:-5433\}:5432/);
    assert.match(text, /POSTGRES_DB: migration_lab/);
    assert.match(text, /pg_isready/);
  });

  void it('start() runs exactly `docker compose -f <file> -p migration-lab up -d --wait` with MIGRATION_LAB_PORT', async () => {
    const { provider } = lab();
    const target = await provider.start();
    const calls = fake.calls();
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0].argv, [
      'compose',
      '-f',
      composeFile,
      '-p',
      'migration-lab',
      'up',
      '-d',
      '--wait',
    ]);
    assert.equal(basename(calls[0].argv[2]), 'docker-compose.yml');
    assert.equal(calls[0].env.MIGRATION_LAB_PORT, String(PORT));
    assert.deepEqual(target, {
      host: '127.0.0.1',
      port: PORT,
      database: 'migration_lab',
      user: 'postgres',
      password: 'postgres',
    });
    assert.equal(provider.kind, 'docker');
    assert.deepEqual(provider.describe(), { host: '127.0.0.1', port: PORT, database: 'migration_lab' });
  });

  void it('stop() runs `compose ... stop` (keeps the volume) and is safe to call twice', async () => {
    const { provider } = lab();
    await provider.stop();
    await provider.stop();
    const calls = fake.calls();
    assert.equal(calls.length, 2);
    for (const call of calls) {
      assert.deepEqual(call.argv, ['compose', '-f', composeFile, '-p', 'migration-lab', 'stop']);
    }
  });

  void it('says Docker is not installed when docker is not on PATH', async () => {
    fake.uninstall();
    const { provider } = lab();
    const error = await startFailure(provider);
    assert.equal(error.message, DOCKER_NOT_INSTALLED);
    assert.equal(error.reason, 'not-installed');
    assert.ok(isDockerUnavailableError(error));
    await provider.stop(); // nothing to stop, and no throw
  });

  void it('says the daemon is not running, keeping stderr in detail', async () => {
    fake.setMode('no-daemon');
    const { provider } = lab();
    const error = await startFailure(provider);
    assert.equal(error.message, DOCKER_DAEMON_NOT_RUNNING);
    assert.equal(error.reason, 'daemon-not-running');
    assert.match(error.detail ?? '', /Cannot connect to the Docker daemon/);
    assert.ok(isDockerUnavailableError(error));
    await provider.stop(); // a stopped daemon has nothing of ours running
  });

  void it('says the user may not use Docker when the socket denies permission', async () => {
    fake.setMode('denied');
    const error = await startFailure(lab().provider);
    assert.equal(error.reason, 'permission-denied');
    assert.match(error.message, /permission denied/);
    assert.ok(isDockerUnavailableError(error));
  });

  void it('says the Compose plugin is missing when `docker compose` is unknown', async () => {
    fake.setMode('no-compose');
    const error = await startFailure(lab().provider);
    assert.equal(error.reason, 'compose-missing');
    assert.match(error.message, /Compose/);
    assert.ok(isDockerUnavailableError(error));
  });

  for (const mode of ['unhealthy', 'exited']) {
    void it(`says the container did not become healthy when --wait fails (${mode})`, async () => {
      fake.setMode(mode);
      const { provider, logger } = lab();
      const error = await startFailure(provider);
      assert.equal(error.reason, 'unhealthy');
      assert.match(error.message, /did not become healthy/);
      assert.doesNotMatch(error.message, /migrationLab\.postgres\.port/, 'the port is not the problem here');
      assert.match(error.detail ?? '', new RegExp(mode));
      assert.ok(!isDockerUnavailableError(error), 'a broken container is not a reason to fall back');
      assert.ok(
        logger.lines.some((l) => l.startsWith('error') && l.includes(mode)),
        'stderr is logged',
      );
    });
  }

  void it('names the port and the setting when the port is already allocated', async () => {
    fake.setMode('port-taken');
    const error = await startFailure(lab().provider);
    assert.equal(error.reason, 'unhealthy');
    assert.match(error.message, /did not become healthy/);
    assert.match(error.message, new RegExp(`port ${PORT}\\b`));
    assert.match(error.message, /migrationLab\.postgres\.port/);
    assert.match(error.detail ?? '', /port is already allocated/);
  });

  void it('reports other compose failures (image pull) as Docker could not start the container', async () => {
    fake.setMode('pull-failed');
    const error = await startFailure(lab().provider);
    assert.equal(error.reason, 'failed');
    assert.match(error.message, /could not start the PostgreSQL container/);
    assert.match(error.detail ?? '', /registry-1\.docker\.io/);
  });

  void it('stops waiting after startTimeoutMs with a timeout sentence', async () => {
    fake.setMode('hang');
    const error = await startFailure(lab({ startTimeoutMs: 500 }).provider);
    assert.equal(error.reason, 'timeout');
    assert.match(error.message, /did not finish/);
  });

  void it('start() is cancellable', async () => {
    fake.setMode('hang');
    const controller = new AbortController();
    const starting = lab().provider.start(controller.signal);
    controller.abort();
    await assert.rejects(starting, CancelledError);
  });

  void it('fails with a clear sentence, without running docker, when the compose file is missing', async () => {
    const error = await startFailure(lab({ composeFile: join(repoRoot, 'no-such-compose.yml') }).provider);
    assert.match(error.message, /docker-compose\.yml/);
    assert.equal(fake.calls().length, 0);
  });

  void it('isAvailable() is true when `docker info` succeeds (found on PATH or by path)', async () => {
    assert.equal(await DockerComposePostgres.isAvailable(), true);
    assert.equal(await DockerComposePostgres.isAvailable(join(fakeDockerDir, 'docker')), true);
    const calls = fake.calls();
    assert.equal(calls.length, 2);
    assert.equal(calls[0].argv[0], 'info');
  });

  void it('isAvailable() is false when the daemon is down, docker is missing, or docker hangs', async () => {
    fake.setMode('no-daemon');
    assert.equal(await DockerComposePostgres.isAvailable(), false);
    fake.setMode('hang');
    const started = Date.now();
    assert.equal(await DockerComposePostgres.isAvailable('docker', undefined, 500), false);
    assert.ok(Date.now() - started < 5_000);
    fake.uninstall();
    assert.equal(await DockerComposePostgres.isAvailable(), false);
  });

  void it('isAvailable() rethrows cancellation instead of answering false', async () => {
    await assert.rejects(DockerComposePostgres.isAvailable('docker', AbortSignal.abort()), CancelledError);
  });

  void it('logs the command it runs, with the port', async () => {
    const { provider, logger } = lab();
    await provider.start();
    assert.ok(
      logger.lines.some((l) => l.includes('up -d --wait') && l.includes(`MIGRATION_LAB_PORT=${PORT}`)),
    );
  });
});
