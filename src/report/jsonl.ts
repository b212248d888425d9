// JSON Lines sink: one trace event per line, keys in a fixed order, so that the
// same run always gives the same bytes.

import type { TraceEvent } from '../trace/trace.ts';

export function toJsonLines(events: readonly TraceEvent[]): string {
  const out: string[] = [];
  for (const e of events) {
    const o: Record<string, unknown> = {
      t: e.t,
      cpu: e.cpu,
      irql: e.irql,
      actor: e.actor,
      kind: e.kind,
      what: e.what,
    };
    if (e.data !== undefined) for (const [k, v] of Object.entries(e.data)) if (!(k in o)) o[k] = v;
    out.push(JSON.stringify(o));
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
