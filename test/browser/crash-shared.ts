/** Constants and data shapes shared by the crash test (Node) and its page bundle (crash-page.ts). */

export const ACCOUNTS = 8;
export const INITIAL_BALANCE = 1000;
export const SET_LOOPS = 3;
/** Prefix of the console lines that acknowledge a write. */
export const ACK = 'tierstore-ack ';

export type Durability = 'strict' | 'relaxed';

/** An account: its balance and the sequence number of the last transaction that moved it (0: none). */
export interface Account { balance: number; last: number }
/** The log entry a transaction writes with its two account updates. */
export interface TxLog { from: number; to: number; amount: number }
/** One acknowledged write, as reported to Node. */
export type Ack =
  | { kind: 's'; key: string; value: number }
  | { kind: 'b'; keys: string[]; value: number }
  | { kind: 't'; seq: number; from: number; to: number; amount: number };

/** What the store holds after a relaunch. */
export interface Contents {
  values: Record<string, unknown>;
  accounts: (Account | undefined)[];
  txlog: Record<string, TxLog>;
}
