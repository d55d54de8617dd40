/**
 * Starts a private redis-server (Debian's package) on a free 127.0.0.1 port in a temporary folder,
 * for tests of the Redis state and of several gateway replicas. Tests skip, saying why, when
 * redis-server is not installed (`apt-get install -y redis-server`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why Redis tests cannot run here, or undefined when they can. */
export function redisUnavailable(): string | undefined {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'redis-server is not installed (apt-get install -y redis-server); the Redis tests are skipped';
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A running private Redis. */
export interface TestRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, then waits) and removes its folder. */
  stop(): Promise<void>;
  /** Stops it without removing the folder, for outage tests; `start()` brings it back on the same port. */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

function launch(port: number, dir: string): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
    stdio: 'ignore',
  });
}

async function waitUp(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.write('PING\r\n');
      });
      c.once('data', (d) => {
        c.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start within 20 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'routecore-redis-'));
  let child = launch(port, dir);
  await waitUp(port);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async pause() {
      child.kill('SIGTERM');
      await exited(child);
    },
    async resume() {
      child = launch(port, dir);
      await waitUp(port);
    },
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
