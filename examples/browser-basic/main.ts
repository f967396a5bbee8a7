/**
 * A note list on the file tier of tierstore, which is IndexedDB in browsers: notes survive
 * reloads; a note can get a lifetime (`ttl`) and then vanishes by itself, announced by the
 * `expire` event. Bundle with the command in index.html and serve the folder over http.
 */
import { StorageError, StorageSystem, type Entry } from 'tierstore';

interface Note {
  text: string;
  createdAt: Date; // a Date round-trips as a Date: values are structured-cloned, not JSON
}

// Default backend 'file' = IndexedDB database 'tierstore-notes'. A short sweep interval makes
// expired notes go away (and `expire` fire) within half a second.
const storage = StorageSystem.getInstance({ defaultBackend: 'file' });
storage.createBackend('file', { basePath: 'tierstore-notes', sweepInterval: 500 });

const $ = <T extends HTMLElement>(selector: string) => document.querySelector<T>(selector)!;
const form = $<HTMLFormElement>('#add');
const text = $<HTMLInputElement>('#text');
const expires = $<HTMLInputElement>('#expires');
const ttl = $<HTMLInputElement>('#ttl');
const list = $<HTMLUListElement>('#notes');
const status = $<HTMLParagraphElement>('#status');
const log = $<HTMLOListElement>('#log');

function logEvent(message: string): void {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${message}`;
  log.prepend(li);
}

/** Keys sort by creation time: a fixed-width base-36 timestamp, then a random suffix. */
const newKey = () => `notes.${Date.now().toString(36).padStart(9, '0')}${Math.random().toString(36).slice(2, 6)}`;

function noteItem(entry: Entry<Note>): HTMLLIElement {
  const li = document.createElement('li');
  li.dataset.key = entry.key;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = entry.value.text;
  const meta = document.createElement('small');
  meta.className = 'meta';
  const { version, expiresAt } = entry.metadata;
  meta.textContent = `${entry.value.createdAt.toLocaleTimeString()} · v${version}`
    + (expiresAt ? ` · expires ${new Date(expiresAt).toLocaleTimeString()}` : '');
  const remove = document.createElement('button');
  remove.className = 'delete';
  remove.textContent = 'Delete';
  remove.onclick = () => void run(() => storage.delete(entry.key));
  li.append(body, meta, remove);
  return li;
}

/** Redraws the list from storage: the store, not the DOM, is the source of truth. */
async function render(): Promise<void> {
  const keys = await storage.keys('notes.*');
  const entries = await Promise.all(keys.map((k) => storage.getEntry<Note>(k)));
  list.replaceChildren(...entries.filter((e): e is Entry<Note> => e !== undefined).map(noteItem));
  status.textContent = `${list.children.length} note(s) stored in IndexedDB`;
}

/** Runs an action, showing storage errors (quota, validation, a blocked database) instead of throwing. */
async function run(action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (err) {
    status.textContent = err instanceof StorageError ? `Storage error ${err.code}: ${err.message}` : String(err);
  }
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const note: Note = { text: text.value.trim(), createdAt: new Date() };
  if (!note.text) return;
  const seconds = expires.checked ? Number(ttl.value) : undefined;
  void run(async () => {
    await storage.set(newKey(), note, seconds ? { ttl: seconds } : {});
    form.reset();
    ttl.value = '5';
  });
});

// Events keep the view current: our own writes, and the sweep removing expired notes.
storage.on('set', (e) => { logEvent(`set ${e.key} (v${e.metadata.version})`); void render(); });
storage.on('delete', (e) => { logEvent(`delete ${e.key}`); void render(); });
storage.on('expire', (e) => { logEvent(`expire ${e.key}`); void render(); });
storage.on('error', (e) => { status.textContent = `Background ${e.operation} failed: ${e.error.message}`; });

await run(render);
document.body.dataset.ready = 'true';
