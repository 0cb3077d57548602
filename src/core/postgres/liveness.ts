// What the OS says is in use: a TCP port on 127.0.0.1, a process id. Asked fresh each time; the answer
// can change at once (another editor may take the port or start a server right after).
import { createServer } from 'node:net';

/** Whether nothing listens on 127.0.0.1:`port` (a listen there succeeds and is closed again). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Whether a process `pid` exists (one of another user counts: signalling it is refused, not unknown). */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
