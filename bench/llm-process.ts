/**
 * Parent side of `llm-server.ts`: fork the stand-in LLM as its own process and ask it for its
 * counters and timeline over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ParentMessage, ServerMessage, ServerStatsMessage } from './llm-server.js';

const SERVER = fileURLToPath(new URL('./llm-server.js', import.meta.url));

export interface LlmProcess {
  url: string;
  /** One base URL per server (`servers` of startLlmProcess); urls[0] === url. */
  urls: string[];
  pid: number;
  stats(): Promise<ServerStatsMessage>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

function reply<T extends ServerMessage['type']>(child: ChildProcess, type: T): Promise<Extract<ServerMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: ServerMessage): void => {
      if (m.type !== type) return;
      cleanup();
      resolve(m as Extract<ServerMessage, { type: T }>);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`stand-in LLM process exited (code ${code}) before answering ${type}`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** `servers` > 1: that many independent stand-ins in the one process, each on its own port. */
export async function startLlmProcess(latencyMs: number, servers = 1): Promise<LlmProcess> {
  const child = fork(SERVER, ['--latency', String(latencyMs), '--servers', String(servers)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await reply(child, 'ready');
  const ask = (m: ParentMessage): void => {
    child.send(m);
  };
  return {
    url: ready.url,
    urls: ready.urls,
    pid: child.pid ?? -1,
    async stats() {
      const answer = reply(child, 'stats');
      ask({ type: 'stats' });
      return answer;
    },
    async reset() {
      const answer = reply(child, 'reset');
      ask({ type: 'reset' });
      await answer;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
