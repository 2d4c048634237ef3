/**
 * The demo's last step: up.sh execs into this, so the script's own PID keeps the four processes
 * and answers Ctrl-C, `kill -INT` and `kill -TERM` alike. bash cannot: a script started in the
 * background by another script begins with SIGINT ignored, and bash may not trap a signal it
 * inherited as ignored. Node installs its own handlers whatever it inherited.
 *
 * usage: node --import tsx deploy/demo/supervise.ts LOG_DIR NAME=PID...
 * Prints LOG_DIR/banner.txt (what to open) once its signal handlers are in place.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const STOP_WAIT_MS = 10_000;
const POLL_MS = 200;

const [logDir = '.', ...specs] = process.argv.slice(2);
const children = specs.map((spec) => {
  const [name = '', pid = ''] = spec.split('=');
  return { name, pid: Number(pid) };
});

const say = (message: string): void => void process.stderr.write(`demo: ${message}\n`);

/** Present and not a zombie: exited children stay in /proc until reaped, and we reap none. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

function tailOfLog(name: string): string {
  try {
    return readFileSync(join(logDir, `${name}.log`), 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

let stopping = false;
async function stopAll(exitCode: number): Promise<never> {
  stopping = true;
  for (const { pid } of children) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + STOP_WAIT_MS;
  while (children.some(({ pid }) => isRunning(pid)) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  for (const { pid } of children) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  say('stopped');
  process.exit(exitCode);
}

process.on('SIGINT', () => void stopAll(130));
process.on('SIGTERM', () => void stopAll(143));
process.on('SIGHUP', () => void stopAll(129));

try {
  process.stdout.write(readFileSync(join(logDir, 'banner.txt'), 'utf8'));
} catch {
  say('running (no banner)');
}

// Stay up until a signal, or until one of the processes dies (then say which and stop the rest).
const watch = setInterval(() => {
  if (stopping) return;
  const dead = children.find(({ pid }) => !isRunning(pid));
  if (dead === undefined) return;
  clearInterval(watch);
  say(`${dead.name} exited; its log:`);
  process.stderr.write(`${tailOfLog(dead.name)}\n`);
  void stopAll(1);
}, POLL_MS);
