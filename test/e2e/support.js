// Shared plumbing for the tests that drive a real VS Code: code-server (VS Code server + web workbench,
// installed by scripts/setup-vscode-server.sh into a cache outside the clone) and Debian's Chromium through
// playwright-core. See ../../README.md ("Testing") and /work/shared/VSCODE-TESTING.md for why code-server.
/* global clearTimeout */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const SETUP = 'bash scripts/setup-vscode-server.sh';

/** A problem with the test machinery (not with the extension): exit code 2 with a message saying what to do. */
class InfraError extends Error {}

const started = Date.now();
function log(message) {
  console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${message}`);
}

/** Versions come from the setup script, so the runners and the installer cannot disagree. */
function versions() {
  const script = fs.readFileSync(path.join(ROOT, 'scripts', 'setup-vscode-server.sh'), 'utf8');
  const read = (name) => {
    const m = new RegExp(`^${name}=(\\S+)`, 'm').exec(script);
    if (!m) throw new InfraError(`scripts/setup-vscode-server.sh has no ${name}=`);
    return m[1];
  };
  return { node: read('NODE_VERSION'), codeServer: read('CODE_SERVER_VERSION') };
}

/** Paths of code-server and its Node 24; throws InfraError with the fix when they are not installed. */
function vscodeServer() {
  const cache = process.env.MIGRATION_LAB_CACHE || path.join(os.homedir(), '.cache', 'migration-lab');
  const v = versions();
  const codeServer =
    process.env.CODE_SERVER ||
    path.join(cache, `code-server-${v.codeServer}`, 'node_modules', '.bin', 'code-server');
  const nodeBin = path.join(cache, `node-${v.node}`, 'node_modules', '.bin');
  if (!fs.existsSync(codeServer)) {
    throw new InfraError(
      `code-server ${v.codeServer} is not installed (looked for ${codeServer}); run ${SETUP}`,
    );
  }
  if (!fs.existsSync(path.join(nodeBin, 'node'))) {
    throw new InfraError(
      `Node ${v.node} for code-server is not installed (looked in ${nodeBin}); run ${SETUP}`,
    );
  }
  return { codeServer, nodeBin, version: v.codeServer };
}

function chromiumPath() {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new InfraError(`Chromium not found (looked for ${candidates.join(', ')}); run ${SETUP}`);
  return found;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function httpGet(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A scratch folder with its own HOME, XDG folders, TMPDIR, user data (settings.json) and extensions folder,
 * so a test run never reads or writes the developer's VS Code state.
 */
function makeSandbox(prefix, settings) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  // Traversable by others: run as root, the extension starts PostgreSQL as an unprivileged account, which
  // must reach the extension's storage in here; otherwise the cluster goes to /var/lib/migration-lab and
  // outlives the sandbox.
  fs.chmodSync(dir, 0o755);
  const sandbox = {
    dir,
    // Short on purpose: the extension's storage (and the embedded PostgreSQL's Unix socket in it) lives
    // under here, and a socket path may not exceed 107 bytes.
    userData: path.join(dir, 'ud'),
    extensions: path.join(dir, 'extensions'),
    workspace: path.join(dir, 'workspace'),
    log: path.join(dir, 'code-server.log'),
    env: {
      HOME: dir,
      TMPDIR: path.join(dir, 'tmp'),
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      XDG_DATA_HOME: path.join(dir, 'data'),
      XDG_CACHE_HOME: path.join(dir, 'cache'),
      XDG_RUNTIME_DIR: path.join(dir, 'run'),
    },
    /** Called on exit, before the clean-up: stop what runs in the sandbox (code-server's process group). */
    stoppers: [],
    cleaned: false,
  };
  process.on('exit', () => {
    for (const stop of sandbox.stoppers) stop();
    if (!sandbox.cleaned) cleanUp(sandbox, false);
  });
  // VS Code would create User/globalStorage as 0700; made here first, it stays traversable.
  for (const d of [
    sandbox.userData + '/User/globalStorage',
    sandbox.extensions,
    sandbox.workspace,
    ...Object.values(sandbox.env),
  ]) {
    fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  }
  writeSettings(sandbox, {
    'telemetry.telemetryLevel': 'off',
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'chat.disableAIFeatures': true,
    'security.workspace.trust.enabled': false,
    'git.enabled': false,
    'remote.autoForwardPorts': false, // no "Your application running on port N" toasts over the panel
    'workbench.colorTheme': 'Default Dark Modern',
    ...settings,
  });
  return sandbox;
}

function writeSettings(sandbox, settings) {
  fs.writeFileSync(path.join(sandbox.userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
}

function readSettings(sandbox) {
  return JSON.parse(fs.readFileSync(path.join(sandbox.userData, 'User', 'settings.json'), 'utf8'));
}

function serverEnv(server, sandbox) {
  return { ...process.env, ...sandbox.env, PATH: `${server.nodeBin}${path.delimiter}${process.env.PATH}` };
}

/** `code-server --install-extension x.vsix` into the sandbox's extensions folder. */
function installVsix(server, sandbox, vsix) {
  try {
    return execFileSync(
      server.codeServer,
      [
        '--user-data-dir',
        sandbox.userData,
        '--extensions-dir',
        sandbox.extensions,
        '--install-extension',
        vsix,
      ],
      {
        env: serverEnv(server, sandbox),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 120_000,
      },
    );
  } catch (e) {
    throw new InfraError(
      `code-server could not install ${vsix}: ${(e.stderr || e.stdout || e.message).trim()}`,
    );
  }
}

/**
 * Starts code-server detached, in its own process group (so stop() also ends the extension host, file
 * watchers and PostgreSQL processes it spawned), and waits until it serves the workbench.
 */
async function startCodeServer(server, sandbox, { smokeTestDriver = false, startTimeoutMs = 60_000 } = {}) {
  const port = await freePort();
  const out = fs.openSync(sandbox.log, 'a');
  const args = [
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--user-data-dir',
    sandbox.userData,
    '--extensions-dir',
    sandbox.extensions,
    '--config',
    path.join(sandbox.dir, 'code-server.yaml'),
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--reconnection-grace-time',
    '5',
  ];
  // A built VS Code ignores the extensionDevelopmentPath/extensionTestsPath payload without this option.
  if (smokeTestDriver) args.push('--vscode-option', 'enable-smoke-test-driver');
  const proc = spawn(server.codeServer, args, {
    env: serverEnv(server, sandbox),
    cwd: sandbox.workspace,
    detached: true,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  let exit;
  const exited = new Promise((resolve) =>
    proc.on('exit', (code, signal) => {
      exit = signal ?? code;
      resolve(exit);
    }),
  );
  const stop = () => {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  sandbox.stoppers.push(stop);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (exit !== undefined) {
      stop();
      throw new InfraError(`code-server exited (${exit}) while starting; see ${sandbox.log}`);
    }
    try {
      if ((await httpGet(`${base}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      stop();
      throw new InfraError(`code-server did not start within ${startTimeoutMs / 1000} s; see ${sandbox.log}`);
    }
    await sleep(100);
  }
  // /healthz answers even when VS Code itself failed to load (a wrong Node, for one): ask for the page too.
  const page = await httpGet(`${base}/?folder=${encodeURIComponent(sandbox.workspace)}`).catch((e) => ({
    status: e.message,
    body: '',
  }));
  if (page.status !== 200 || !page.body.includes('workbench')) {
    stop();
    throw new InfraError(
      `code-server does not serve the workbench (HTTP ${page.status}); see ${sandbox.log}`,
    );
  }
  return { port, base, authority: `127.0.0.1:${port}`, proc, stop, exited };
}

async function launchChromium(sandbox) {
  const { chromium } = require('playwright-core');
  const executablePath = chromiumPath();
  try {
    return await chromium.launch({
      executablePath,
      headless: true,
      env: { ...process.env, ...sandbox.env },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
      ],
      timeout: 60_000,
    });
  } catch (e) {
    throw new InfraError(`Chromium (${executablePath}) did not start: ${e.message.split('\n')[0]}`);
  }
}

/** Resolves after ms, or rejects when the promise does: a timeout that leaves no timer behind. */
function withTimeout(promise, ms, onTimeout) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(onTimeout()), ms);
    }),
  ]);
}

/**
 * Removes the sandbox after a pass. After a failure it keeps the logs and settings for a look but drops
 * PostgreSQL data folders (hundreds of MB once seeded); a cluster the extension had to keep outside the
 * sandbox (logged as "keeping the cluster in DIR") is removed either way.
 */
function cleanUp(sandbox, passed) {
  sandbox.cleaned = true;
  for (const dir of clustersOutside(sandbox)) fs.rmSync(dir, { recursive: true, force: true });
  if (passed && !process.env.KEEP_E2E_TMP) {
    fs.rmSync(sandbox.dir, { recursive: true, force: true });
    return;
  }
  if (!process.env.KEEP_E2E_TMP) {
    for (const data of findDirs(sandbox.dir, (d) => fs.existsSync(path.join(d, 'PG_VERSION')))) {
      fs.rmSync(data, { recursive: true, force: true });
    }
  }
  log(`kept ${sandbox.dir} (code-server.log if any; VS Code's and the extension's logs under ud/logs)`);
}

function clustersOutside(sandbox) {
  const found = new Set();
  for (const dir of findDirs(path.join(sandbox.userData, 'logs'), () => true)) {
    for (const f of fs.readdirSync(dir)) {
      if (!f.endsWith('.log')) continue;
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      for (const m of text.matchAll(
        /keeping the cluster in (\/var\/lib\/migration-lab\/cluster-[0-9a-f]+) instead/g,
      )) {
        found.add(m[1]);
      }
    }
  }
  return [...found];
}

function findDirs(root, match) {
  const out = [];
  const walk = (d) => {
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    if (match(d)) out.push(d);
    for (const e of entries) if (e.isDirectory() && !e.isSymbolicLink()) walk(path.join(d, e.name));
  };
  walk(root);
  return out;
}

/** Exit codes shared by the runners: 0 passed, 1 a test failed, 2 the machinery failed. */
function fail(e) {
  if (e instanceof InfraError) {
    console.error(`\nINFRASTRUCTURE ERROR (not a test failure): ${e.message}`);
    process.exit(2);
  }
  console.error(e);
  process.exit(2);
}

/** Ends the run on Ctrl-C / SIGTERM after stopping what was started (the 'exit' handlers kill the groups). */
function exitOnSignals() {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping code-server`);
      process.exit(130);
    });
  }
}

module.exports = {
  ROOT,
  InfraError,
  log,
  vscodeServer,
  freePort,
  sleep,
  makeSandbox,
  writeSettings,
  readSettings,
  installVsix,
  startCodeServer,
  launchChromium,
  withTimeout,
  cleanUp,
  fail,
  exitOnSignals,
};
