/**
 * Assertions that run the same in Node and in Chromium (node:assert is not available in a page).
 * `deepEqual` compares like structuredClone sees values: Object.is for primitives (NaN, -0),
 * prototypes of built-ins, Map/Set contents in order, typed-array contents, Date times,
 * RegExp source/flags, and own enumerable string keys of objects.
 */
export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function ok(value: unknown, message = 'expected a truthy value'): asserts value {
  if (!value) throw new AssertionError(message);
}

export function equal(actual: unknown, expected: unknown, message?: string): void {
  if (!Object.is(actual, expected)) {
    throw new AssertionError(message ?? `expected ${show(expected)}, got ${show(actual)}`);
  }
}

export function deepEqual(actual: unknown, expected: unknown, message?: string): void {
  const diff = difference(actual, expected, '$', new Map());
  if (diff) throw new AssertionError(`${message ? message + ': ' : ''}${diff}`);
}

/** Awaits `promise` and checks it rejects with an error whose `code` is `code`. Returns the error. */
export async function rejects(promise: Promise<unknown> | (() => Promise<unknown>), code: string, message?: string): Promise<Error & { code: string }> {
  let result: unknown;
  try {
    result = await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    const e = err as Error & { code: string };
    if (e?.code !== code) {
      throw new AssertionError(`${message ? message + ': ' : ''}expected rejection with code ${code}, got ${e?.name} ${e?.code}: ${e?.message}`);
    }
    return e;
  }
  throw new AssertionError(`${message ? message + ': ' : ''}expected rejection with code ${code}, but it resolved to ${show(result)}`);
}

function show(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v.length > 200 ? v.slice(0, 200) + '…' : v);
  if (Object.is(v, -0)) return '-0';
  try {
    const s = JSON.stringify(v);
    if (s !== undefined) return s.length > 300 ? s.slice(0, 300) + '…' : s;
  } catch { /* cyclic */ }
  return String(v);
}

function difference(a: unknown, b: unknown, path: string, seen: Map<object, object>): string | undefined {
  if (Object.is(a, b)) return undefined;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return `at ${path}: expected ${show(b)}, got ${show(a)}`;
  }
  if (seen.get(a) === b) return undefined;
  seen.set(a, b);
  const pa = Object.getPrototypeOf(a);
  const pb = Object.getPrototypeOf(b);
  if (pa !== pb) return `at ${path}: prototypes differ (${pa?.constructor?.name} vs expected ${pb?.constructor?.name})`;
  if (a instanceof Date) return Object.is(a.getTime(), (b as Date).getTime()) ? undefined : `at ${path}: dates differ`;
  if (a instanceof RegExp) {
    const r = b as RegExp;
    return a.source === r.source && a.flags === r.flags ? undefined : `at ${path}: regexps differ (${a} vs ${r})`;
  }
  if (ArrayBuffer.isView(a) || a instanceof ArrayBuffer) {
    const x = bytesOf(a);
    const y = bytesOf(b as ArrayBuffer | ArrayBufferView);
    if (x.length !== y.length) return `at ${path}: byte lengths differ (${x.length} vs ${y.length})`;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `at ${path}: bytes differ at ${i}`;
    if (ArrayBuffer.isView(a) && !(a instanceof DataView)) return difference(Array.from(a as unknown as ArrayLike<unknown>), Array.from(b as unknown as ArrayLike<unknown>), path, seen);
    return undefined;
  }
  if (a instanceof Map) {
    const m = b as Map<unknown, unknown>;
    if (a.size !== m.size) return `at ${path}: map sizes differ (${a.size} vs ${m.size})`;
    const ea = [...a.entries()];
    const eb = [...m.entries()];
    for (let i = 0; i < ea.length; i++) {
      const d = difference(ea[i], eb[i], `${path}.<map entry ${i}>`, seen);
      if (d) return d;
    }
    return undefined;
  }
  if (a instanceof Set) {
    return difference([...a], [...(b as Set<unknown>)], `${path}.<set>`, seen);
  }
  if (a instanceof Error) {
    const e = b as Error;
    if (a.name !== e.name || a.message !== e.message) return `at ${path}: errors differ`;
  }
  if (Array.isArray(a) && a.length !== (b as unknown[]).length) return `at ${path}: array lengths differ (${a.length} vs ${(b as unknown[]).length})`;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length || ka.some((k, i) => k !== kb[i])) {
    return `at ${path}: keys differ (${show(ka)} vs expected ${show(kb)})`;
  }
  for (const k of ka) {
    const d = difference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, seen);
    if (d) return d;
  }
  return undefined;
}

function bytesOf(v: ArrayBuffer | ArrayBufferView): Uint8Array {
  return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
