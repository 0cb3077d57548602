/**
 * The one command line (`migration-lab`, `node dist/cli.js`, `npm run cli --`): `detect`, `replay`,
 * `lint`, `trace`, `demo` and `lessons`, sharing core with the extension.
 */
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { DETECT_USAGE, LINT_USAGE, REPLAY_USAGE, TRACE_USAGE } from './usage';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export const MAIN_HELP = `Usage: migration-lab <command> [options]   (node dist/cli.js, npm run cli -- …)

Commands:
  detect [DIR]    find migration folders and say which tool each belongs to, and how it runs them
  replay DIR      replay a migration folder onto its own scratch database on the lab's PostgreSQL
  lint PATH...    lint migration folders or .sql files: each statement's locks and the rules (for CI)
  trace DIR       trace a migration on synthetic rows: per statement, locks, rewrites, read/write impact
  demo            the index-migration journey under live probes (what \`npm run demo\` runs)
  lessons         the four lessons (\`npm run demo -- --lessons\`)
  help [COMMAND]  this help, or a command's

${DETECT_USAGE}
${REPLAY_USAGE}
${LINT_USAGE}
${TRACE_USAGE}
Run \`migration-lab <command> --help\` for a command's options.`;

export interface MainIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * The demo's entry as `npm run demo` builds it (dist/demo.js beside dist/cli.js). Loaded at run time,
 * not bundled: its module runs itself when it is the main module, which inside one bundle it would be.
 */
function demoMain(): (argv: readonly string[]) => Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the demo's own built entry
  return (require(join(__dirname, 'demo.js')) as { main: (argv: readonly string[]) => Promise<number> }).main;
}

/** Runs one command; returns the exit code. */
export async function main(argv: readonly string[], io: MainIo, signal: AbortSignal): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    // Each command is loaded when run: a lint never pays for the PostgreSQL driver, nor a replay for the parser.
    case 'detect':
      return (await import('./detect.js')).runDetect(rest, io, signal);
    case 'replay':
      return (await import('./replay.js')).runReplay(rest, io, signal);
    case 'lint':
      return (await import('./lint.js')).runLint(rest, io);
    case 'trace':
      return (await import('./trace.js')).runTrace(rest, io, signal);
    case 'demo':
      return demoMain()(rest);
    case 'lessons':
      return demoMain()(['--lessons', ...rest]);
    case 'help':
    case '-h':
    case '--help':
      if (rest[0] && ['detect', 'replay', 'lint', 'trace', 'demo', 'lessons'].includes(rest[0]))
        return main([rest[0] === 'lessons' ? 'demo' : rest[0], '--help'], io, signal);
      io.stdout(`${MAIN_HELP}\n`);
      return EXIT_OK;
    case undefined:
      io.stderr(`${MAIN_HELP}\n`);
      return EXIT_USAGE;
    default:
      io.stderr(`error: unknown command "${command}".\n${MAIN_HELP}\n`);
      return EXIT_USAGE;
  }
}

if (require.main === module) {
  const controller = new AbortController();
  const argv = process.argv.slice(2);
  // A lint run is one short process: the parser's WebAssembly in V8's baseline compiler (Liftoff) only.
  // Tiering hot parser functions up to TurboFan costs more CPU than a few seconds of parsing win back
  // (measured: the cold lint of 5,000 statements took about a third of the time). Set before the parser
  // loads; it is this process's own flag (the extension host never runs this file).
  if (argv[0] === 'lint') setFlagsFromString('--liftoff-only');
  // demo and lessons handle their own signals; replay, trace and detect cancel through the signal.
  if (argv[0] === 'replay' || argv[0] === 'detect' || argv[0] === 'trace') {
    let interrupted = false;
    const onSignal = () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      process.stderr.write('Interrupted: cancelling…\n');
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const write = (stream: NodeJS.WriteStream) => (text: string) => void stream.write(text);
  main(argv, { stdout: write(process.stdout), stderr: write(process.stderr) }, controller.signal).then(
    (code) => {
      // Let stdout drain (a pipe) before exiting.
      process.stdout.write('', () => process.exit(code));
    },
    (e: unknown) => {
      process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(EXIT_FAILED);
    },
  );
}
