// Replay files: one run, written so that `ndis-sim replay` gives it again, byte for
// byte, on another machine. The file holds the scenario's text (not its path), the
// decisions up to the last one that is not 0 (every later answer is 0), and the
// digest of the run's JSON Lines trace, which the replay checks.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InputError } from '../errors.ts';
import { toJsonLines } from '../report/jsonl.ts';
import { issueText, pathText } from '../scenario/load.ts';
import { choiceSiteNames, type Decision } from '../sim/choice.ts';
import type { TraceEvent } from '../trace/trace.ts';

export const replayFormat = 'ndis-sim replay 1';

const count = z.number().int().min(0).max(0xffffffff);

const replaySchema = z.strictObject({
  format: z.literal(replayFormat),
  /** The ndis-sim version that wrote it. */
  ndisSim: z.string(),
  scenario: z.strictObject({ file: z.string(), text: z.string() }),
  /** The --driver modules the run loaded, as they were named on the command line. */
  drivers: z.array(z.string()),
  seed: count,
  untilNs: z.number().int().min(0),
  verifier: z.enum(['bugcheck', 'collect']),
  /** What the run found; null for a run that passed. */
  failure: z.strictObject({ signature: z.string(), detail: z.string() }).nullable(),
  /** How the decisions were found: a seed's own, or shrunk from them. */
  shrunk: z.boolean(),
  trace: z.strictObject({ events: count, sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  /** [site, count, answer]; site numbers as in ChoiceSite (src/sim/choice.ts). */
  decisions: z.array(
    z
      .tuple([count.max(choiceSiteNames.length - 1), count.min(2), count])
      .refine(([, n, pick]) => pick < n, { message: 'expected an answer below the count' }),
  ),
});

export type ReplayFile = z.output<typeof replaySchema>;

/** The digest a replay compares: of the trace as `--trace` writes it. */
export function traceDigest(events: readonly TraceEvent[]): { events: number; sha256: string } {
  return { events: events.length, sha256: createHash('sha256').update(toJsonLines(events)).digest('hex') };
}

export function toDecisionRows(log: readonly Decision[]): [number, number, number][] {
  return log.map((d) => [d.site, d.count, d.pick]);
}

export function fromDecisionRows(rows: ReplayFile['decisions']): Decision[] {
  return rows.map(([site, count, pick]) => ({ site, count, pick }));
}

/** JSON, two-space indented, with the decisions eight to a line. */
export function formatReplayFile(r: ReplayFile): string {
  const marker = '"@decisions@"';
  const head = JSON.stringify({ ...r, decisions: marker.slice(1, -1) }, null, 2);
  const rows: string[] = [];
  for (let i = 0; i < r.decisions.length; i += 8)
    rows.push(
      `    ${r.decisions
        .slice(i, i + 8)
        .map((d) => JSON.stringify(d))
        .join(', ')}`,
    );
  const list = rows.length === 0 ? '[]' : `[\n${rows.join(',\n')}\n  ]`;
  return `${head.replace(marker, list)}\n`;
}

/** Parses and checks a replay file's text; every problem as "file: field: expected …, got …". */
export function parseReplayFile(text: string, file: string): ReplayFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new InputError([
      `${file}: expected a replay file (JSON), got text that does not parse: ${(e as Error).message}`,
    ]);
  }
  const r = replaySchema.safeParse(data, { reportInput: true });
  if (!r.success) {
    const format = (data as { format?: unknown } | null)?.format;
    if (typeof data === 'object' && data !== null && format !== replayFormat)
      throw new InputError([
        `${file}: format: expected "${replayFormat}" (a file ndis-sim explore wrote), got ${JSON.stringify(format) ?? 'none'}`,
      ]);
    throw new InputError(
      r.error.issues.map((i) => `${file}: ${pathText(i.path)}: ${issueText(i, replaySchema)}`),
    );
  }
  return r.data;
}
