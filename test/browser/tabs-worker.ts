/**
 * Module worker of the multi-tab tests: the same agent as a page (tabs-agent.ts), called by the
 * page over postMessage with `{ id, method, args }` and answering `{ id, result }`.
 */
import { createAgent, dispatch } from './tabs-agent';

const scope = self as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown): void };
const agent = createAgent();

scope.onmessage = async (e: MessageEvent<{ id: number; method: string; args: unknown[] }>) => {
  const { id, method, args } = e.data;
  scope.postMessage({ id, result: await dispatch(agent, method, args) });
};
