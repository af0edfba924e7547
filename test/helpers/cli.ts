import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { LAUNCHER } from './launcher.js';

/** The test process's environment with `env` applied; an `undefined` value removes a variable. */
function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete merged[name];
  return merged;
}

/** A JavaScript stack frame, as printed raw or inside a JSON log line. */
const STACK_FRAME = /(^|\\n|\n)\s*at [^\n]*[(\s][^\s()]+:\d+:\d+\)?|"stack":/;

/**
 * Whether the command runs at a level that may show stacks; at the default
 * level no stack trace may reach a terminal.
 */
function debugging(args: readonly string[], env: Record<string, string | undefined>): boolean {
  const level = args.includes('--log-level') ? args[args.indexOf('--log-level') + 1] : env.PINGPULL_LOG_LEVEL;
  return level === 'debug' || level === 'trace';
}

/** Throws when `output` holds a stack trace although the command ran at the default log level. */
export function expectNoStackTrace(
  output: string,
  args: readonly string[],
  env: Record<string, string | undefined>,
): void {
  if (debugging(args, env)) return;
  const frame = STACK_FRAME.exec(output);
  if (frame !== null) {
    throw new Error(`pingpull ${args.join(' ')} printed a stack trace at the default log level:\n${output}`);
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `pingpull ...args` to completion, as a user would from a shell. */
export function runCli(
  args: readonly string[],
  env: Record<string, string | undefined>,
  timeoutMs = 60_000,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LAUNCHER, ...args], {
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pingpull ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        expectNoStackTrace(stdout + stderr, args, env);
        resolve({ code, stdout, stderr });
      } catch (error) {
        reject(error as Error);
      }
    });
  });
}

export interface RunningCli {
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then the exit code (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>;
}

/** Starts a long-running `pingpull ...args`; its output is kept for failure messages. */
export function spawnCli(args: readonly string[], env: Record<string, string | undefined>): RunningCli {
  const child = spawn(process.execPath, [LAUNCHER, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // 'close' comes after the output streams ended: everything the child printed is in output() by then.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    async stop(graceMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) {
        expectNoStackTrace(output, args, env);
        return exited;
      }
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      expectNoStackTrace(output, args, env);
      return code;
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
