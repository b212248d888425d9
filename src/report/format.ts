// Small formatting helpers shared by the sinks. Formatting happens here, after a
// run, never while the simulation runs.

import { irqlNames } from '../kernel/kernel.ts';
import { NTSTATUS_NAMES, statusInfo } from '../ndis/generated/status.ts';

/** Virtual time as seconds with microseconds: "20.002352 s". */
export function fmtTime(ns: number): string {
  const us = Math.floor(ns / 1000);
  const s = Math.floor(us / 1_000_000);
  const frac = String(us % 1_000_000).padStart(6, '0');
  return `${s}.${frac} s`;
}

export function fmtIrql(irql: number): string {
  return irqlNames[irql] ?? String(irql);
}

export function statusName(v: number): string {
  return statusInfo.get(v)?.name ?? `0x${(v >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
}

/** A value from trace data, for a human. */
export function fmtValue(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return `[${v.map(fmtValue).join(', ')}]`;
  if (typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k}=${fmtValue(x)}`)
      .join(', ');
  }
  return String(v);
}

/** Device Manager problem codes, in our words (cfg.h numbers). */
export const problemText: Readonly<Record<number, string>> = {
  3: 'Code 3: its driver ran out of resources in DriverEntry (CM_PROB_OUT_OF_MEMORY)',
  10: 'Code 10: the device could not start (CM_PROB_FAILED_START)',
  22: 'Code 22: disabled (CM_PROB_DISABLED)',
  31: 'Code 31: its driver loaded but did not register for it (CM_PROB_FAILED_ADD)',
  37: 'Code 37: its driver failed DriverEntry (CM_PROB_FAILED_DRIVER_ENTRY)',
  43: 'Code 43: stopped after it reported a failure (CM_PROB_FAILED_POST_START)',
};

/**
 * `text` in a column `width` wide: padded, or, when longer, its start and end kept
 * around an ellipsis (driver names differ at both ends: pcie-nic-bug-…-complete).
 */
export function column(text: string, width: number): string {
  if (text.length <= width) return text.padEnd(width);
  const head = Math.ceil((width - 1) / 2);
  return `${text.slice(0, head)}…${text.slice(text.length - (width - 1 - head))}`;
}

/** An NTSTATUS by name (STATUS_SUCCESS), or its hex for a value the table lacks. */
export function ntStatusName(v: number): string {
  return NTSTATUS_NAMES.get(v) ?? `0x${(v >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
}

/** Records that happen again and again (a violation in collect mode, a warning), folded. */
export interface Folded<T> {
  /** The first of them. */
  readonly first: T;
  /** How many there are, the first included. */
  readonly count: number;
  /** When the last happened, ns. */
  readonly lastNs: number;
}

/**
 * A message with its numbers (an NBL's id, a count, a time, an address in hex) as `#`, for folding records
 * that differ only in them. Digits that are part of a name stay: those after a letter, a
 * digit, `_`, `-` or `@` (filter drivers lwf1 and lwf-2, adapter nic0), or before a
 * letter or `_`; so two drivers breaking the same rule are not folded into one.
 */
export function numbersOut(message: string): string {
  return message.replace(/(?<![\w@-])(?:0x[0-9A-Fa-f]+|\d+)(?![A-Za-z_])/g, '#');
}

/**
 * Folds records of the same rule, DDI and adapter whose messages differ only in their
 * numbers (an NBL's id, a count) into the first of them, in the order of the first of
 * each: in collect mode a driver that breaks a rule on every frame records it thousands
 * of times, and a summary that lists each buries the rest.
 */
export function foldRepeats<
  T extends { rule: string; ddi: string; adapter: string | null; message: string; timeNs: number },
>(records: readonly T[]): Folded<T>[] {
  const out: { first: T; count: number; lastNs: number }[] = [];
  const at = new Map<string, number>();
  for (const r of records) {
    const key = `${r.rule}\u0000${r.ddi}\u0000${r.adapter ?? ''}\u0000${numbersOut(r.message)}`;
    const i = at.get(key);
    if (i === undefined) {
      at.set(key, out.length);
      out.push({ first: r, count: 1, lastNs: r.timeNs });
    } else {
      out[i]!.count++;
      out[i]!.lastNs = r.timeNs;
    }
  }
  return out;
}

/** What a folded record adds to its line: nothing for one alone, else the count and the last time. */
export function repeatNote(f: Folded<unknown>): string {
  return f.count === 1
    ? ''
    : ` (×${f.count.toLocaleString('en-US')}, the same but for its numbers; the last at ${fmtTime(f.lastNs)})`;
}
