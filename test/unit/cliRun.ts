import { main } from '../../src/cli/main';

/** Runs the command line in this process, as `node dist/cli.js ARGV` would, and collects what it printed. */
export async function runCli(
  argv: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(
    argv,
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
    new AbortController().signal,
  );
  return { code, stdout, stderr };
}
