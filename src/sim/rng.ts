// Seeded pseudo-random numbers: sfc32 seeded through splitmix32. Same seed, same
// sequence, on every platform (32-bit integer arithmetic only).

/** A probability as an integer ratio, so that no float rounding enters a run. */
export interface Ratio {
  readonly num: number;
  readonly den: number;
}

export function ratio(num: number, den: number): Ratio {
  if (!Number.isInteger(num) || !Number.isInteger(den) || den <= 0 || num < 0 || num > den) {
    throw new RangeError(`ratio: expected 0 <= num <= den, integers, got ${num}/${den}`);
  }
  return { num, den };
}

/** splitmix32's output for the state `s` (taken mod 2^32), as an unsigned integer. */
function splitmix32(s: number): number {
  let z = s >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    const s = seed >>> 0;
    // The state is kept as signed 32-bit integers (`| 0`), the form every step of
    // u32 stores: a field that once held a number above 2^31 would stay a boxed
    // double for good and make every draw slower. The bits, hence the sequence, are
    // the same either way.
    this.a = splitmix32(s + 0x9e3779b9) | 0;
    this.b = splitmix32(s + 2 * 0x9e3779b9) | 0;
    this.c = splitmix32(s + 3 * 0x9e3779b9) | 0;
    this.d = splitmix32(s + 4 * 0x9e3779b9) | 0;
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform integer in [0, n), n >= 1, without modulo bias. */
  below(n: number): number {
    if (n <= 1) return 0;
    // A power of two divides 2^32: every draw is accepted, and its low bits are x mod n.
    // Same answer as the general path below, without its two divisions.
    if ((n & (n - 1)) === 0) return this.u32() & (n - 1);
    // The largest multiple of n up to 2^32; a - floor(a / n) * n is a % n exactly for
    // integers below 2^53, without the floating-point remainder % costs past 2^31.
    const limit = Math.floor(0x100000000 / n) * n;
    for (;;) {
      const x = this.u32();
      if (x < limit) return x - Math.floor(x / n) * n;
    }
  }

  chance(p: Ratio): boolean {
    return this.below(p.den) < p.num;
  }
}
