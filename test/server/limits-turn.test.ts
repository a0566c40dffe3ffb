/**
 * The large-body turn's rules with an injected clock and timer (no waiting): one holder, FIFO waiters, a bounded
 * queue, and the pause after each holder (as long as it held the turn, capped), which keeps large bodies to at most
 * half of the event loop. Also the sweep period derived from the deadlines.
 */
import { describe, expect, it } from 'vitest';
import { LargeBodyTurn, sweepPeriodMs } from '../../src/server/limits.js';

/** A LargeBodyTurn on a hand-moved clock; armed timers are listed and fired by advance(). */
function harness(queueCap = 4, pauseMaxMs = 50) {
  let now = 0;
  let timers: { at: number; run: () => void; cancelled: boolean }[] = [];
  const turn = new LargeBodyTurn(
    queueCap,
    pauseMaxMs,
    () => now,
    (run, ms) => {
      const t = { at: now + ms, run, cancelled: false };
      timers.push(t);
      return () => (t.cancelled = true);
    },
  );
  const started: string[] = [];
  const enter = (name: string, onStart: () => void = () => undefined) =>
    turn.enter(() => {
      started.push(name);
      onStart();
    });
  const advance = (ms: number) => {
    now += ms;
    const due = timers.filter((t) => !t.cancelled && t.at <= now);
    timers = timers.filter((t) => !due.includes(t));
    for (const t of due) t.run();
  };
  return { turn, started, enter, advance, armed: () => timers.filter((t) => !t.cancelled).map((t) => t.at) };
}

describe('LargeBodyTurn', () => {
  it('starts the first at once and the next only after a pause as long as the first held the turn', () => {
    const h = harness();
    h.enter('a');
    h.enter('b');
    expect(h.started).toEqual(['a']);
    h.advance(8);
    h.turn.leave(); // a held it 8 ms
    expect(h.started).toEqual(['a']); // b waits the pause out
    expect(h.armed()).toEqual([16]);
    h.advance(7);
    expect(h.started).toEqual(['a']);
    h.advance(1);
    expect(h.started).toEqual(['a', 'b']);
  });

  it('caps the pause at pauseMaxMs', () => {
    const h = harness(4, 50);
    h.enter('a');
    h.enter('b');
    h.advance(2_000); // a slow client held the turn for 2 s
    h.turn.leave();
    expect(h.armed()).toEqual([2_050]);
    h.advance(50);
    expect(h.started).toEqual(['a', 'b']);
  });

  it('a newcomer during the pause waits for its end; after it, starts at once', () => {
    const h = harness();
    h.enter('a');
    h.advance(10);
    h.turn.leave(); // pause until 20
    h.enter('b');
    expect(h.started).toEqual(['a']);
    h.advance(10);
    expect(h.started).toEqual(['a', 'b']);
    h.advance(1);
    h.turn.leave(); // b held it 1 ms: pause until 22
    h.advance(1);
    h.enter('c');
    expect(h.started).toEqual(['a', 'b', 'c']);
  });

  it('keeps arrival order and refuses past the queue cap', () => {
    const h = harness(2);
    expect(h.enter('a')).toBe(true);
    expect(h.enter('b')).toBe(true);
    expect(h.enter('c')).toBe(true);
    expect(h.turn.full()).toBe(true);
    expect(h.enter('d')).toBe(false);
    expect(h.turn.queued).toBe(2);
    for (let i = 0; i < 2; i++) {
      h.turn.leave();
      h.advance(0);
    }
    expect(h.started).toEqual(['a', 'b', 'c']);
    expect(h.turn.full()).toBe(false);
  });

  it('a waiter whose request is gone passes the turn on without a pause', () => {
    const h = harness();
    h.enter('a');
    h.enter('gone', () => h.turn.leave());
    h.enter('c');
    h.advance(5);
    h.turn.leave();
    h.advance(5); // a's pause; "gone" starts, leaves at once, c follows in the same step
    expect(h.started).toEqual(['a', 'gone', 'c']);
  });

  it('stop() cancels the pause timer', () => {
    const h = harness();
    h.enter('a');
    h.enter('b');
    h.advance(5);
    h.turn.leave();
    h.turn.stop();
    h.advance(100);
    expect(h.started).toEqual(['a']);
  });
});

describe('sweepPeriodMs', () => {
  it.each([
    [30_000, 30_000, 1_000], // production: 1 s
    [200, 30_000, 50], // a quarter of the shorter deadline
    [30_000, 400, 100],
    [20, 20, 10], // never below 10 ms
  ])('body %i ms, write %i ms: %i ms', (bodyTimeoutMs, writeTimeoutMs, period) => {
    expect(sweepPeriodMs({ bodyTimeoutMs, writeTimeoutMs })).toBe(period);
  });
});
