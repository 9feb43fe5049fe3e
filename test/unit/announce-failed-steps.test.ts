// announce-rate's note (bench/lib/announce-steps.ts) says what the failed steps under the target
// had, counted from each step's own figures: tracker GC pauses, lookup-only bursts, shortfalls.
import test from 'ava';
import { failedStepsText, GC_STALL_MS, type RateResult, type Step } from '../../bench/lib/announce-steps.js';

const burst = (bursts: number) => ({ slow: 41, inBurstsPct: bursts ? 80 : 0, bursts, longestMs: bursts ? 40 : 0 });
const step = (offered: number, good: boolean, gcMax: number, lookupBursts = 0, echoBursts = 0, absorbed = offered): Step => ({
  offered,
  absorbed,
  p99: 10,
  echoP99: good ? 9 : 4,
  ratio: good ? 1.1 : 2.5,
  vsQuiet: 1,
  errors: 0,
  good,
  benchLoopP99: 2,
  benchLoopMax: 5,
  trackerGc: { pauses: 3, maxMs: gcMax, totalMs: 3 * gcMax },
  tail: { lookups: burst(lookupBursts), echoes: burst(echoBursts) },
});
const rates = (...steps: Step[][]): RateResult[] => steps.map((s) => ({ best: 0, baseP99: 3, baseEchoP99: 3, steps: s }));

test('counts the failed steps under the target by what they had', (t) => {
  const text = failedStepsText(rates([step(50, true, 1.2), step(100, false, 16.3, 1, 0), step(100, false, 2.1, 1, 1), step(75, true, 6)], [step(50, true, 1), step(100, false, 9.9, 0, 0, 80), step(3200, false, 30)]), 1000);
  t.regex(text, /3 steps under 1000\/s failed \(at 100\/s\)/);
  t.regex(text, new RegExp(`2 with a tracker GC pause over ${GC_STALL_MS} ms \\(longest 16\\.3 ms\\)`));
  t.regex(text, /1 with bursts of slow lookups and none of slow echoes/);
  t.regex(text, /1 with announces not absorbed, 0 with errors/);
  t.regex(text, /of the 3 steps that held, 1 had such a GC pause/);
});

test('no failed step under the target: nothing to say', (t) => {
  t.is(failedStepsText(rates([step(50, true, 1), step(3200, false, 20)]), 1000), '');
});

test('one failed step, no GC pause over the limit: singular, no longest', (t) => {
  const text = failedStepsText(rates([step(200, false, 3)]), 1000);
  t.regex(text, /1 step under 1000\/s failed \(at 200\/s\): 0 with a tracker GC pause over \d+ ms, 0 with bursts/);
  t.notRegex(text, /longest/);
});

test('names the kinds of the long pauses in the failed steps', (t) => {
  const withKinds = (offered: number, long: string[]): Step => ({ ...step(offered, false, 12), trackerGc: { pauses: long.length, maxMs: 12, totalMs: 20, long } });
  const text = failedStepsText(rates([withKinds(100, ['Scavenge', 'Mark-Compact']), withKinds(200, ['Scavenge'])]), 1000);
  t.regex(text, /longest 12\.0 ms; 2 Scavenge, 1 Mark-Compact\)/);
});
