// Dots, version vectors and the hybrid logical clock, as sync/vv and
// sync/hlc have them. Counters and clock values are uint64 on the wire,
// so they are bigints here.

/** A version vector: replica → highest counter seen from it. */
export type VV = Map<number, bigint>;

export interface Dot {
  replica: number;
  counter: bigint;
  hlc: bigint;
}

/** bump takes the next counter of replica in v (as vv.VV.Bump). */
export function bump(v: VV, replica: number): bigint {
  const k = (v.get(replica) ?? 0n) + 1n;
  v.set(replica, k);
  return k;
}

/** Replicas in ascending order, as vv.VV.Replicas and the wire have them. */
export function replicas(v: VV): number[] {
  return [...v.keys()].sort((a, b) => a - b);
}

const logicalBits = 16n;

/** The hybrid logical clock of sync/hlc: max(wall_ms << 16, last + 1). */
export class Clock {
  constructor(
    private last: bigint,
    private readonly wallMs: () => number = () => Date.now(),
  ) {}

  private wall(): bigint {
    const ms = Math.max(0, Math.floor(this.wallMs()));
    return BigInt(ms) << logicalBits;
  }

  now(): bigint {
    const w = this.wall();
    this.last = w > this.last ? w : this.last + 1n;
    return this.last;
  }

  /** observe moves the clock past a server's HLC. */
  observe(ts: bigint): void {
    if (ts > this.last) this.last = ts;
  }

  /** settle brings back a clock left far ahead (by a wrong date) once the
   * wall clock is right again, as hlc.Clock.Settle. */
  settle(ref: bigint, slackMs: number): boolean {
    const wall = this.wall();
    const ms = (t: bigint) => t >> logicalBits; // hlc.Time: to the millisecond
    const slack = BigInt(slackMs);
    if (ms(this.last) - ms(ref) <= slack || ms(wall) - ms(ref) > slack) return false;
    this.last = ref > wall ? ref : wall;
    return true;
  }

  get lastValue(): bigint {
    return this.last;
  }
}
