// When the page asks the worker to sync: after enrolling, a little after
// each save (a run of saves sends one request), when the network comes
// back, every few minutes while open, and after a failure again with a
// growing wait. One sync at a time: a trigger during a run runs once more
// after it. Nothing here blocks the screens: run() is never awaited by a
// form.

export const saveDebounceMs = 2_000;
export const everyMs = 3 * 60_000;
const firstBackoffMs = 5_000;
export const maxBackoffMs = 5 * 60_000;

export class Scheduler {
  private running = false;
  private again = false;
  private failures = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private debounce: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  /** run resolves to whether the sync reached the server and succeeded. */
  constructor(private readonly run: () => Promise<boolean>) {}

  /** Starts the periodic syncs and the online trigger, and syncs now. */
  start(): void {
    addEventListener("online", () => this.now());
    this.now();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.debounce);
  }

  /** Syncs as soon as no other sync runs. */
  now(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    if (this.running) {
      this.again = true;
      return;
    }
    void this.cycle();
  }

  /** Syncs a little later, so that a run of saves makes one request. */
  soon(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.now(), saveDebounceMs);
  }

  private async cycle(): Promise<void> {
    this.running = true;
    clearTimeout(this.timer);
    let ok = false;
    try {
      ok = await this.run();
    } catch {
      ok = false;
    }
    this.running = false;
    this.failures = ok ? 0 : this.failures + 1;
    if (this.stopped) return;
    if (this.again) {
      this.again = false;
      if (ok) {
        void this.cycle();
        return;
      }
    }
    this.timer = setTimeout(() => this.now(), ok ? everyMs : backoff(this.failures));
  }
}

/** The wait after the n-th failure in a row: 5 s doubling, at most 5 min. */
export function backoff(n: number): number {
  return Math.min(maxBackoffMs, firstBackoffMs * 2 ** Math.max(0, n - 1));
}
