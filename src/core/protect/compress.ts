/**
 * Raw deflate (RFC 1951) of record bodies, the same format on every platform: a body compressed
 * in Node inflates in a browser and back (backups and sync move bytes between them).
 *
 * Which implementation runs was decided by measurement: `npx tsx bench/protect-micro.ts`, µs per
 * call (best of 7 interleaved rounds, wall clock), JSON bodies of user objects, Node 20.20 and
 * Chromium 156 on a shared 2-core machine under load (average 4–6), so absolute figures are
 * inflated and only the ratios matter:
 *
 * | per call, level 6           | 200 B deflate | 1 KB deflate | 20 KB deflate | 1 KB inflate | 20 KB inflate |
 * |-----------------------------|---------------|--------------|---------------|--------------|---------------|
 * | Node: zlib (deflateRawSync) |  19           |  27          |   105         |   7          |    32         |
 * | Node: pako                  | 353           | 444          |   665         |  53          |   115         |
 * | Node: CompressionStream     | 801           | 698          |   683         | 394          | 1,300         |
 * | Chromium: pako              | 264           | 278          |   607         |  70          |   103         |
 * | Chromium: CompressionStream | 1,800         | 1,700        | 1,900         | 1,500        | 1,600         |
 *
 * Sizes: 200 → 143 B, 1,024 → 225 B, 20,480 → 1,533 B at level 6 (1,684 B at level 1, which
 * deflates 20 KB about 2x faster). pako's cost is mostly fixed per call (deflateInit allocates
 * ~256 KB of state; reusing one stream through pako's low-level API gained under 1.5x and was
 * not worth owning zlib state handling).
 *
 * - **Node**: native zlib, 5–8x faster than pako. It is reached through
 *   `process.getBuiltinModule('zlib')` (Node ≥ 20.16), which is a runtime lookup, not an import:
 *   no bundler sees it, and nothing Node-specific reaches a browser bundle.
 * - **Browsers, workers, older Node**: pako, loaded with a dynamic `import('pako')` on first use,
 *   so an app that never compresses never loads it. `CompressionStream('deflate-raw')` is not
 *   used: it is asynchronous, passes through several tasks per call, and costs 3–20x pako's
 *   time per body at the sizes records have. pako and zlib at the same level emit the same
 *   bytes (zlib's algorithm, ported), so a body usually has one encoding on every platform.
 *
 * Both produce valid raw deflate and accept any valid raw deflate (tested across Node zlib, pako
 * and Chromium's DecompressionStream). Inflating is strict: truncated input, trailing bytes after
 * the end of the stream, or invalid data are a {@link StorageCorruptionError}.
 */
import { StorageCorruptionError, StorageError } from '../errors';

/** A synchronous raw-deflate implementation. */
export interface DeflateCodec {
  /** `'node-zlib'`, `'pako'`, or a custom name. */
  readonly name: string;
  /** Raw deflate of `input` at zlib `level` 0–9. */
  deflateRaw(input: Uint8Array, level: number): Uint8Array;
  /** Inverse of `deflateRaw`; throws (any error) when `input` is not exactly one complete raw deflate stream. */
  inflateRaw(input: Uint8Array): Uint8Array;
}

interface NodeZlib {
  deflateRawSync(input: Uint8Array, options: { level: number }): Uint8Array;
  inflateRawSync(input: Uint8Array, options: { info: true }): { buffer: Uint8Array; engine: { bytesWritten: number } };
}

let override: DeflateCodec | undefined;
let native: DeflateCodec | null | undefined; // null: looked up, not available
let pako: DeflateCodec | undefined;
let pakoLoading: Promise<DeflateCodec> | undefined;

/** Node's zlib when this runtime exposes it without an import, else undefined. */
export function nodeZlibCodec(): DeflateCodec | undefined {
  if (native !== undefined) return native ?? undefined;
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  let zlib: NodeZlib | undefined;
  try { zlib = proc?.getBuiltinModule?.('zlib') as NodeZlib | undefined; } catch { zlib = undefined; }
  native = zlib === undefined ? null : {
    name: 'node-zlib',
    deflateRaw: (input, level) => own(zlib.deflateRawSync(input, { level })),
    inflateRaw: (input) => {
      const { buffer, engine } = zlib.inflateRawSync(input, { info: true });
      if (engine.bytesWritten !== input.byteLength) throw new Error(`${input.byteLength - engine.bytesWritten} byte(s) after the end of the deflate stream`);
      return own(buffer);
    },
  };
  return native ?? undefined;
}

/**
 * A plain Uint8Array that owns exactly its bytes. Codecs may return a Buffer, or a view into a
 * larger chunk; stored as is, IndexedDB's structured clone would copy the whole chunk.
 */
function own(u: Uint8Array): Uint8Array {
  if (u.constructor === Uint8Array && u.byteOffset === 0 && u.byteLength === u.buffer.byteLength) return u;
  const copy = new Uint8Array(u.byteLength);
  copy.set(u);
  return copy;
}

/** pako, loaded on first call (a dynamic import, so bundles load it only when compression is used). */
export function pakoCodec(): Promise<DeflateCodec> {
  if (pako !== undefined) return Promise.resolve(pako);
  pakoLoading ??= import('pako').then((m) => {
    pako = {
      name: 'pako',
      deflateRaw: (input, level) => own(m.deflateRaw(input, { level: level as 0 })),
      inflateRaw: (input) => {
        const inflater = new m.Inflate({ raw: true });
        inflater.push(input, true);
        if (inflater.err !== 0) throw new Error(inflater.msg || `inflate error ${inflater.err}`);
        if (!inflater.ended) throw new Error('the deflate stream is truncated');
        // pako keeps the unconsumed input count on its (internal) stream; check it where present.
        const left = (inflater as unknown as { strm?: { avail_in?: number } }).strm?.avail_in;
        if (left) throw new Error(`${left} byte(s) after the end of the deflate stream`);
        return own(inflater.result);
      },
    };
    return pako;
  }, (cause: unknown) => {
    pakoLoading = undefined; // let a later call retry (e.g. a chunk that failed to load)
    throw new StorageError('could not load the "pako" module that compression uses in this runtime: is it installed?', { cause });
  });
  return pakoLoading;
}

/** The codec in use once loaded: a test or app override, else native zlib, else pako if loaded. */
export function loadedCodec(): DeflateCodec | undefined {
  return override ?? nodeZlibCodec() ?? pako;
}

/** The codec in use, loading pako first when this runtime has no native zlib. */
export function loadCodec(): Promise<DeflateCodec> {
  const codec = loadedCodec();
  return codec === undefined ? pakoCodec() : Promise.resolve(codec);
}

/**
 * Replaces the automatic choice (tests use it to run every path in one runtime); `undefined`
 * restores it. All codecs read each other's output, so switching never strands a record.
 */
export function useCodec(codec: DeflateCodec | undefined): void {
  override = codec;
}

/** Raw deflate of `bytes` at `level`. */
export async function deflate(bytes: Uint8Array, level: number): Promise<Uint8Array> {
  return (loadedCodec() ?? await pakoCodec()).deflateRaw(bytes, level);
}

/**
 * Inflates a compressed body synchronously (the memory engine's synchronous reads).
 *
 * @throws StorageCorruptionError when `bytes` is not one complete raw deflate stream.
 * @throws StorageError when pako is needed and not loaded yet: await {@link loadCodec} first
 *   (any earlier compressed write in this runtime has loaded it).
 */
export function inflateSync(bytes: Uint8Array, recordKey?: string): Uint8Array {
  const codec = loadedCodec();
  if (codec === undefined) {
    throw new StorageError('a compressed record was read synchronously before the compression module was loaded: await loadCompression() first (e.g. when the backend opens)');
  }
  return inflateWith(codec, bytes, recordKey);
}

/** Inflates a compressed body, loading pako if needed. */
export async function inflate(bytes: Uint8Array, recordKey?: string): Promise<Uint8Array> {
  return inflateWith(loadedCodec() ?? await pakoCodec(), bytes, recordKey);
}

function inflateWith(codec: DeflateCodec, bytes: Uint8Array, recordKey: string | undefined): Uint8Array {
  try {
    return codec.inflateRaw(bytes);
  } catch (cause) {
    const which = recordKey === undefined ? 'a compressed record' : `the compressed record for key "${recordKey}"`;
    throw new StorageCorruptionError(`${which} is corrupt: its body does not inflate (${(cause as Error)?.message ?? String(cause)})`, { cause });
  }
}
