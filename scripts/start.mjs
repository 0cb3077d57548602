// `npm start`: puts Migration Lab in front of a person.
//  - desktop VS Code (`code` on PATH): installs the packaged .vsix and opens this folder; the walkthrough
//    opens by itself on the extension's first activation.
//  - otherwise: installs Node 24 and code-server into a cache outside the clone (once), installs the
//    .vsix, starts code-server on 127.0.0.1 and prints the URL. Ctrl-C stops everything it started.
// Usage: npm start [-- --port 8080] [-- --browser-only]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { profileSettingsText } from './profile-settings.mjs';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const port = Number(option('port', process.env.MIGRATION_LAB_EDITOR_PORT ?? '8080'));
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`start: --port must be a port number, got "${option('port')}".`);
  process.exit(2);
}
const log = (m) => console.error(`[migration-lab] ${m}`);

/** Latest modification time of any file below `dir`. */
function newest(dir) {
  return Math.max(
    0,
    ...readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs),
  );
}

/** Packages the .vsix unless one newer than every source file exists. */
function ensureVsix() {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const target = `${process.platform}-${process.arch}`;
  const vsix = join(root, `${pkg.name}-${target}-${pkg.version}.vsix`);
  const sources = Math.max(
    ...['src', 'migrations', 'walkthroughs', 'media'].map((d) => newest(join(root, d))),
    statSync(join(root, 'package.json')).mtimeMs,
  );
  if (!existsSync(vsix) || statSync(vsix).mtimeMs < sources) {
    log('packaging the extension…');
    execFileSync(process.execPath, [join(root, 'scripts/package.mjs'), '--out', vsix], {
      cwd: root,
      stdio: 'inherit',
    });
  }
  return vsix;
}

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const vsix = ensureVsix();

if (onPath('code') && !flag('browser-only')) {
  log('installing into desktop VS Code…');
  execFileSync('code', ['--install-extension', vsix, '--force'], { stdio: 'inherit' });
  execFileSync('code', [root], { stdio: 'inherit' });
  log('VS Code is open. Run "Migration Lab: Open Walkthrough" if the walkthrough is not showing.');
  process.exit(0);
}

// No desktop VS Code: a local code-server in the browser.
const cache =
  process.env.MIGRATION_LAB_CACHE ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'migration-lab');
log('preparing code-server (installed once into ' + cache + ')…');
const setup = spawnSync('bash', [join(root, 'scripts/setup-vscode-server.sh')], {
  env: { ...process.env, MIGRATION_LAB_CACHE: cache, WITH_CHROMIUM: '0' },
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
});
if (setup.status !== 0) {
  log('could not install code-server; see the messages above.');
  process.exit(1);
}
const node24 = join(cache, 'node-24.21.0', 'node_modules', '.bin');
const codeServer = join(cache, 'code-server-4.139.1', 'node_modules', '.bin', 'code-server');
const home = join(cache, 'start');
const userData = join(home, 'user-data');
const extensions = join(home, 'extensions');
mkdirSync(join(userData, 'User'), { recursive: true });
const settingsFile = join(userData, 'User', 'settings.json');
const settingsText = profileSettingsText(
  existsSync(settingsFile) ? readFileSync(settingsFile, 'utf8') : undefined,
);
if (settingsText !== undefined) writeFileSync(settingsFile, settingsText);
const env = { ...process.env, PATH: `${node24}:${process.env.PATH}` };
execFileSync(
  codeServer,
  ['--user-data-dir', userData, '--extensions-dir', extensions, '--install-extension', vsix, '--force'],
  {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  },
);

const server = spawn(
  codeServer,
  [
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--user-data-dir',
    userData,
    '--extensions-dir',
    extensions,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--config',
    join(home, 'config.yaml'),
    root,
  ],
  // Its own process group: code-server, its extension host and the PostgreSQL that the extension
  // started all stop together on Ctrl-C.
  { env, detached: true, stdio: ['ignore', 'inherit', 'inherit'] },
);

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  log('stopping code-server and PostgreSQL…');
  try {
    process.kill(-server.pid, 'SIGINT'); // PostgreSQL takes SIGINT as a fast shutdown
  } catch {
    // already gone
  }
  const deadline = Date.now() + 10_000;
  while (server.exitCode === null && server.signalCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    process.kill(-server.pid, 'SIGKILL');
  } catch {
    // the whole group is gone
  }
  process.exit(code);
}
process.on('SIGINT', () => void stop(130));
process.on('SIGTERM', () => void stop(143));
server.on('exit', (code) => {
  if (!stopping) {
    log(`code-server exited (${code}).`);
    process.exit(code ?? 1);
  }
});

const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(root)}`;
for (let i = 0; i < 300; i++) {
  const ok = await new Promise((r) =>
    get(`http://127.0.0.1:${port}/healthz`, (res) => {
      res.resume();
      r(res.statusCode === 200);
    }).on('error', () => r(false)),
  );
  if (ok) break;
  await new Promise((r) => setTimeout(r, 200));
}
console.log(
  `\nMigration Lab is running in VS Code (code-server): ${url}\nOpen it in a browser; the walkthrough opens on first start (or run "Migration Lab: Open Walkthrough"). Ctrl-C stops everything.\n`,
);
