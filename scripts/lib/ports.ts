// Is a TCP port free on this host? Used before anything binds one, so a clash
// is an error naming the setting instead of a container that fails to start.
import { createServer } from 'node:net';

export function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** null when free, else a message naming the setting and the fix. */
export async function portProblem(setting: string, port: number): Promise<string | null> {
  // k3d binds 0.0.0.0; a listener on either address blocks it.
  const free = (await portFree(port, '127.0.0.1')) && (await portFree(port, '0.0.0.0'));
  return free ? null : `${setting}=${port} is not valid: the port is in use on this machine; free it or choose another port (1–65535)`;
}
