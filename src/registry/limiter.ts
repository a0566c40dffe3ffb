/**
 * A counting semaphore with a bounded queue: at most `max` registry requests run at once, at most `maxQueue` wait;
 * past that the caller is told "busy" at once rather than piling up work behind a slow registry.
 */
export class BusyError extends Error {
  constructor() {
    super('busy');
    this.name = 'BusyError';
  }
}

export class Limiter {
  private active = 0;
  private readonly waiting: Array<{ grant: () => void; fail: (err: unknown) => void }> = [];

  constructor(
    readonly max: number,
    readonly maxQueue: number,
  ) {}

  /** Resolves with a release function; rejects with BusyError when the queue is full, or signal's reason. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.active < this.max) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxQueue) return Promise.reject(new BusyError());
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason);
      };
      const waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
        fail: reject,
      };
      this.waiting.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  get queued(): number {
    return this.waiting.length;
  }

  get running(): number {
    return this.active;
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `active` only drops when nobody waits.
      if (next) next.grant();
      else this.active--;
    };
  }
}
