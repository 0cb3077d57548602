import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HELP as DEMO_HELP, parseDemoArgs } from '../../src/cli/args';
import { DETECT_HELP, parseDetectArgs } from '../../src/cli/detect';
import { LINT_HELP, parseLintArgs } from '../../src/cli/lint';
import { pgHelp } from '../../src/cli/pgFlag';
import { REPLAY_HELP, parseReplayArgs } from '../../src/cli/replay';
import { TRACE_HELP, parseTraceArgs } from '../../src/cli/trace';

/** Every command, as its parser takes `--pg`'s value and as its help says it. */
const COMMANDS: { name: string; help: string; pg: (value: string) => string }[] = [
  { name: 'detect', help: DETECT_HELP, pg: (v) => parseDetectArgs(['--pg', v]).pg },
  { name: 'replay', help: REPLAY_HELP, pg: (v) => parseReplayArgs(['db', '--pg', v]).pg },
  { name: 'lint', help: LINT_HELP, pg: (v) => parseLintArgs(['x', '--pg', v]).pg },
  { name: 'trace', help: TRACE_HELP, pg: (v) => parseTraceArgs(['db', '--pg', v]).pg },
  {
    name: 'demo',
    help: DEMO_HELP,
    pg: (v) => {
      const parsed = parseDemoArgs(['--pg', v]);
      return parsed.command === 'run' ? parsed.options.pg : '';
    },
  },
];

void describe('--pg MAJOR on every command', () => {
  for (const command of COMMANDS) {
    void it(`${command.name} takes 14 to 18 and bundled, refuses another, and says so in its help`, () => {
      for (const value of ['14', '15', '16', '17', '18', 'bundled']) assert.equal(command.pg(value), value);
      for (const value of ['13', '19', 'latest'])
        assert.throws(() => command.pg(value), /--pg must be "bundled" or one of 14, 15, 16, 17, 18/);
      const entry = /\n {2}--pg MAJOR +(PostgreSQL major[^:]*: [^]*?)\n {2}-/.exec(command.help)?.[1];
      assert.ok(entry, `${command.name}'s help has a --pg MAJOR entry`);
      assert.match(
        entry.replace(/\s+/g, ' '),
        /: 14, 15, 16, 17, 18 or bundled \(default: the shipped one\)\. \S/,
      );
    });
  }

  void it("the help entry starts at the command's option column and wraps under it, within 100 columns", () => {
    const lines = pgHelp(20, {
      what: 'to run',
      more: 'A purpose long enough to wrap. '.repeat(4).trim(),
    }).split('\n');
    assert.ok(lines.length > 1);
    assert.equal(lines[0].indexOf('PostgreSQL'), 20);
    for (const line of lines.slice(1)) assert.match(line, /^ {20}\S/);
    for (const line of lines) assert.ok(line.length <= 100, line);
  });
});
