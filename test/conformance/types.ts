/**
 * The contract between the conformance suite and the place it runs (Node, Chromium): a way to
 * declare tests, and a factory of fresh, isolated stores of one engine.
 */
import type { StorageSystem } from '../../src/core/system';

/** Declares one test; the runner decides how to run and report it. */
export type Declare = (name: string, fn: () => Promise<void> | void) => void;

/** One fresh store: a StorageSystem whose default backend is the engine under test. */
export interface Fixture {
  readonly storage: StorageSystem;
  /** Entries the engine has read so far (proves range reads stay within a prefix). */
  reads(): number;
  /** Closes this store and opens the same data again (with other backend options when given); undefined for engines that do not persist. */
  reopen?: (options?: Record<string, unknown>) => Promise<Fixture>;
  /** Releases everything (also deletes the data). */
  cleanup(): Promise<void>;
}

/** An engine to test. */
export interface Target {
  /** Label, e.g. `leveldb`. */
  readonly name: string;
  /** Makes a fresh, empty, isolated store. `options` are passed to createBackend. */
  open(options?: Record<string, unknown>): Promise<Fixture>;
}
