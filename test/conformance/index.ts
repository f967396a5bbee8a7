/**
 * The conformance suite: every engine, in Node and in Chromium, runs exactly these tests.
 * `runConformance(test, target)` declares them through `test`; see types.ts for the contract.
 */
import { kvTests } from './kv';
import { cacheTests } from './cache';
import { documentTests } from './documents';
import { queryTests } from './query';
import { queryBadInputTests } from './query-bad-input';
import { protectTests } from './protect';
import { quotaTests } from './quota';
import { searchTests } from './search';
import { timeSeriesTests } from './timeseries';
import { transactionTests } from './transactions';
import { ttlPatternTests } from './ttl-patterns';
import type { Declare, Target } from './types';
import { valueTests } from './values';

export type { Declare, Fixture, Target } from './types';

export function runConformance(test: Declare, target: Target): void {
  const named: Declare = (name, fn) => test(`[${target.name}] ${name}`, fn);
  kvTests(named, target);
  valueTests(named, target);
  ttlPatternTests(named, target);
  transactionTests(named, target);
  queryTests(named, target);
  queryBadInputTests(named, target);
  documentTests(named, target);
  searchTests(named, target);
  timeSeriesTests(named, target);
  quotaTests(named, target);
  protectTests(named, target);
  cacheTests(named, target);
}
