// `ndis-sim rules`: the catalogue as a table, one rule explained, the state table.

import pc from 'picocolors';
import type { GalleryEntry } from '../drivers/buggy/index.ts';
import { galleryScenario } from '../drivers/buggy/index.ts';
import { adapterEvents, adapterStates, adapterTable, type StateSpec } from '../ndis/states.ts';
import { bugCheckName } from '../verifier/bugcheck.ts';
import type { BugCheckSpec, RuleSpec } from '../verifier/catalogue.ts';

export interface RuleFilter {
  category?: string;
  status?: 'enforced' | 'not-applicable';
  ddi?: string;
  origin?: string;
}

const originText: Record<string, string> = {
  sdv: 'SDV',
  'driver-verifier': 'Driver Verifier',
  ndis: 'NDIS',
  kernel: 'Windows kernel',
  'ndis-sim': 'ndis-sim',
};

export function bugCheckText(b: BugCheckSpec | null): string {
  if (b === null) return '-';
  const code = `0x${b.code.toString(16).toUpperCase()}`;
  if (b.p1 === null) return code;
  const p1 = `0x${b.p1.toString(16).toUpperCase()}`;
  return b.p2 !== undefined && b.p2 !== null
    ? `${code}/${p1}/0x${b.p2.toString(16).toUpperCase()}`
    : `${code}/${p1}`;
}

export function docUrl(source: string): string | null {
  const m = /^windows-driver-docs-pr\/(.+)\.md$/.exec(source);
  if (m !== null) return `https://learn.microsoft.com/en-us/windows-hardware/drivers/${m[1]}`;
  return null;
}

export function filterRules(rules: readonly RuleSpec[], f: RuleFilter): RuleSpec[] {
  return rules.filter(
    (r) =>
      (f.category === undefined || r.category === f.category) &&
      (f.status === undefined || r.status.kind === f.status) &&
      (f.origin === undefined || r.origin === f.origin) &&
      (f.ddi === undefined || r.ddis.includes(f.ddi)),
  );
}

export function formatRuleTable(
  rules: readonly RuleSpec[],
  all: readonly RuleSpec[],
  color: boolean,
): string[] {
  const c = pc.createColors(color);
  const out: string[] = [];
  const w = Math.max(8, ...rules.map((r) => r.id.length));
  out.push(
    c.bold(
      `${'RULE'.padEnd(w)}  ${'CHECKED BY'.padEnd(15)}  ${'CATEGORY'.padEnd(9)}  ${'STATUS'.padEnd(14)}  ${'BUG CHECK'.padEnd(16)}  SPEC`,
    ),
  );
  for (const r of rules) {
    const status = r.status.kind === 'enforced' ? c.green('enforced'.padEnd(14)) : c.dim('not applicable');
    out.push(
      `${r.id.padEnd(w)}  ${(originText[r.origin] ?? r.origin).padEnd(15)}  ${r.category.padEnd(9)}  ${status}  ${bugCheckText(r.bugCheck).padEnd(16)}  ${r.spec.join(' ')}`,
    );
  }
  out.push('');
  const windows = all.filter((r) => r.category !== 'model');
  const mini = windows.filter((r) => r.miniport);
  const enforced = (xs: readonly RuleSpec[]): number => xs.filter((r) => r.status.kind === 'enforced').length;
  const own = all.filter((r) => r.category === 'model');
  out.push(
    `Windows rules (rules.json): ${windows.length} — ${enforced(windows)} enforced, ${windows.length - enforced(windows)} not applicable.`,
  );
  out.push(
    `  of which about miniports: ${mini.length} — ${enforced(mini)} enforced, ${mini.length - enforced(mini)} not applicable.`,
  );
  out.push(
    `Rules from the NDIS rule book (NDIS's own checks and ndis-sim's): ${own.length} — ${enforced(own)} enforced, ${own.length - enforced(own)} not applicable.`,
  );
  if (rules.length !== all.length) out.push(`Shown: ${rules.length} of ${all.length}.`);
  out.push(
    c.dim(
      '`ndis-sim rules <id>` explains one rule; `ndis-sim rules --states` prints the adapter state table.',
    ),
  );
  return out;
}

export function formatRule(r: RuleSpec, gallery: readonly GalleryEntry[], color: boolean): string[] {
  const c = pc.createColors(color);
  const out: string[] = [];
  out.push(c.bold(r.id));
  out.push(`  ${r.summary}`);
  out.push('');
  out.push(
    `  Checked on Windows by: ${originText[r.origin] ?? r.origin}${r.origin === 'sdv' ? ' (statically, at build time)' : ''}`,
  );
  if (r.status.kind === 'enforced')
    out.push(`  In ndis-sim:           enforced at run time — ${r.status.how}`);
  else out.push(`  In ndis-sim:           not applicable — ${r.status.reason}`);
  out.push(`  Category:              ${r.category}`);
  if (r.spec.length > 0)
    out.push(`  Spec rules:            ${r.spec.join(', ')} (ndis-sim's NDIS rule book)`);
  if (r.ddis.length > 0) out.push(`  DDIs and callbacks:    ${r.ddis.join(', ')}`);
  if (r.bugCheck !== null) {
    const b = r.bugCheck;
    const own = b.p1 !== null && b.p1 >= 0x4e530000 && b.p1 <= 0x4e53ffff;
    // DDIs that stop with Driver Verifier's own code instead: [below its IRQL, above it].
    const own1 = Object.entries(r.ddiBugChecks ?? {}).flatMap(([ddi, codes]) => {
      const which = codes
        .map((c, i) =>
          c === null ? null : `${bugCheckText(c)} called ${i === 0 ? 'below' : 'above'} its IRQL`,
        )
        .filter((t) => t !== null);
      return which.length === 0 ? [] : [`                         ${ddi}: ${which.join('; ')}`];
    });
    out.push(
      `  Bug check:             ${bugCheckName(b.code)} (${bugCheckText(b)})${own ? " — parameter 1 is ndis-sim's own code; Windows has no run-time check" : ''}${own1.length > 0 ? ', except:' : ''}`,
    );
    out.push(...own1);
  }
  const url = docUrl(r.source);
  out.push(`  Documentation:         ${url ?? r.source}`);
  const g = gallery.filter((x) => x.rule === r.id);
  for (const e of g) {
    out.push(`  Gallery:               ${e.driver.name} — ${e.mistake}`);
    out.push(`                         ndis-sim run ${galleryScenario(r.id)}`);
  }
  return out;
}

/** R1.2 as a table: each state's accepted events, and what it defers (R1.4). */
export function formatStateTable(color: boolean): string[] {
  const c = pc.createColors(color);
  const out: string[] = [];
  const w = Math.max(...adapterEvents.map((e) => e.length));
  out.push(c.bold(`${'EVENT'.padEnd(w)}  ${adapterStates.map((s) => s.padEnd(15)).join('')}`));
  for (const e of adapterEvents) {
    const cells = adapterStates.map((s) => {
      const spec = adapterTable[s] as StateSpec;
      const to = spec.on[e];
      if (to !== undefined) return c.green(`→ ${to}`.padEnd(15));
      if (spec.defer.includes(e)) return c.yellow('deferred'.padEnd(15));
      return c.dim('·'.padEnd(15));
    });
    out.push(`${e.padEnd(w)}  ${cells.join('')}`);
  }
  out.push(c.dim('→ state: the transition (R1.2); deferred: NDIS waits (R1.4); ·: a violation.'));
  return out;
}
