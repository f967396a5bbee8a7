/**
 * An agent that remembers things across runs, on the file tier (LevelDB in Node).
 * Run it twice: `npm start` — the second run recalls what the first one learned.
 *
 *   TIERSTORE_AGENT_DIR=/tmp/agent npm start   # store somewhere else
 */
import { StorageSystem, StorageValidationError } from 'tierstore';

const dir = process.env.TIERSTORE_AGENT_DIR ?? new URL('./data', import.meta.url).pathname;
const storage = new StorageSystem({ defaultBackend: 'file' });
storage.createBackend('file', { basePath: dir });
// Working memory stays in RAM and is bounded.
const scratch = storage.createBackend('memory', { name: 'scratch', maxSize: '10MB' });

interface Fact { text: string; learnedAt: Date; confidence: number }

storage.on('set', (e) => console.log(`  [event] set ${e.key} (v${e.metadata.version}) on ${e.backend}`));

const runs = ((await storage.get<number>('agent.runs')) ?? 0) + 1;
await storage.set('agent.runs', runs);
console.log(`agent run #${runs} — memory at ${dir}`);

const known = await storage.keys('agent.facts.*');
console.log(`I remember ${known.length} fact(s):`);
for (const [i, fact] of (await storage.batchGet<Fact>(known)).entries()) {
  if (fact) console.log(`  - ${known[i]}: "${fact.text}" (learned ${fact.learnedAt.toISOString()}, confidence ${fact.confidence})`);
}

const session = await storage.getEntry<string>('agent.session');
console.log(session
  ? `My previous session token is still valid until ${new Date(session.metadata.expiresAt!).toISOString()}`
  : 'No live session: starting a new one (valid for 1 hour).');
if (!session) await storage.set('agent.session', crypto.randomUUID(), { ttl: 3600, tags: ['auth'] });

// Learn something new this run; Dates and Maps round-trip as they are.
await storage.set(`agent.facts.${runs}`, { text: `run ${runs} happened`, learnedAt: new Date(), confidence: 0.9 }, { tags: ['episodic'] });
await scratch.set('plan', new Map<string, unknown>([['step', runs], ['goal', 'remember more']]));
console.log('Scratch plan:', await scratch.get('plan'));

try {
  await storage.set('agent.bad', () => 'functions are not data');
} catch (err) {
  if (err instanceof StorageValidationError) console.log(`Refused as expected: ${err.code} — ${err.message}`);
}

await storage.close();
console.log('Closed. Run `npm start` again to see the agent remember.');
