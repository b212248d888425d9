// "Did you mean": the name closest to one given, for messages about a misspelt one.

/** "did you mean" for a name close to one of `options` (at most two edits away). */
export function nearest(x: string, options: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = 3;
  for (const o of options) {
    const d = distance(x, o);
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  return best;
}

/** Levenshtein distance: the edits that turn `a` into `b`. */
export function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}
