// The terminal timeline: one line per trace event — virtual time, CPU, IRQL,
// actor, what happened — indented by call depth.

import pc from 'picocolors';
import type { TraceEvent } from '../trace/trace.ts';
import { type BugCheckParam, formatBugCheck } from '../verifier/bugcheck.ts';
import { fmtIrql, fmtTime, fmtValue } from './format.ts';

export interface TimelineOptions {
  color: boolean;
}

type Colors = ReturnType<typeof pc.createColors>;

function args(data: Record<string, unknown> | undefined, skip: readonly string[]): string {
  if (data === undefined) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(data)) {
    if (skip.includes(k)) continue;
    parts.push(`${k}=${fmtValue(v)}`);
  }
  return parts.join(', ');
}

/** The event text without time/CPU columns. */
export function describeEvent(e: TraceEvent, c: Colors): string {
  const d = e.data;
  const adapter = d?.adapter !== undefined ? `${String(d.adapter)}: ` : '';
  switch (e.kind) {
    case 'call':
      return `→ ${c.bold(e.what)}(${args(d, ['adapter'])})`;
    case 'return': {
      const r = d?.result;
      return r === undefined ? `← ${e.what}` : `← ${e.what} = ${c.bold(fmtValue(r))}`;
    }
    case 'ddi': {
      const r = d?.result;
      const a = args(d, ['adapter', 'result']);
      return `${c.cyan(e.what)}(${a})${r === undefined ? '' : ` = ${fmtValue(r)}`}`;
    }
    case 'state':
      return `${adapter}${c.magenta(e.what)} (${String(d?.event)})`;
    case 'ndis':
      return `${adapter}${e.what}${d && Object.keys(d).length > 1 ? ` (${args(d, ['adapter'])})` : ''}`;
    case 'irp': {
      const dev = String(d?.device);
      if (d?.phase === 'sent') return `${c.yellow(e.what)} → ${dev}`;
      const info = d?.information ? `, Information=0x${Number(d.information).toString(16)}` : '';
      return `${c.yellow(e.what)} completed (Status=0x${Number(d?.status ?? 0).toString(16)}${info})`;
    }
    case 'device':
      return `${String(d?.device)}: ${e.what}${d?.problem ? c.red(` (Code ${String(d.problem)})`) : ''}`;
    case 'binding':
      return `${adapter}binding ${e.what}`;
    case 'hw':
      return c.dim(e.what);
    case 'dump':
      return c.red(
        `live dump ${formatBugCheck(Number(d?.code), (d?.params ?? []) as BugCheckParam[])}: miniport fatal error, reason ${String((d?.params as BugCheckParam[] | undefined)?.[3])} (${String(d?.reason)})`,
      );
    case 'eventlog':
      return `${c.cyan(e.what)}: ${args(d, [])}`;
    case 'action':
      return c.bold(`scenario: ${e.what}${d?.device === undefined ? '' : ` ${String(d.device)}`}`);
    case 'violation':
      return d?.severity === 'warning'
        ? c.yellow(`warning ${e.what}: ${String(d?.message)}`)
        : c.red(`violation ${e.what}: ${String(d?.message)}`);
    case 'bugcheck':
      return c.bgRed(c.white(` BUG CHECK ${e.what} `));
  }
}

export function formatTimeline(events: readonly TraceEvent[], o: TimelineOptions): string[] {
  const c = pc.createColors(o.color);
  const lines: string[] = [];
  lines.push(c.dim(`${'time'.padStart(14)}  cpu ${'irql'.padEnd(8)} ${'actor'.padEnd(12)} event`));
  let depth = 0;
  for (const e of events) {
    if (e.kind === 'return') depth = Math.max(0, depth - 1);
    const indent = '  '.repeat(Math.min(depth, 8));
    const head = `${fmtTime(e.t).padStart(14)}  ${String(e.cpu).padStart(3)} ${fmtIrql(e.irql).padEnd(8)} ${e.actor.padEnd(12)}`;
    lines.push(`${c.dim(head)} ${indent}${describeEvent(e, c)}`);
    if (e.kind === 'call') depth++;
  }
  return lines;
}
