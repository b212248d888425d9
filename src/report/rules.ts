// `ndis-sim rules`: the catalogue as a table, one rule explained, the state table.

import pc from 'picocolors';
import type { GalleryEntry } from '../drivers/buggy/index.ts';
import { galleryScenario } from '../drivers/buggy/index.ts';
import {
  type RuleBookEntry,
  type RuleBookSource,
  ruleBook,
  ruleBookFiles,
} from '../ndis/generated/rulebook.ts';
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

import { ruleDocs } from './ruledocs.ts';

export { docUrl, ruleDocs } from './ruledocs.ts';

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
  /** With --ddi: the rules about every DDI (no list of their own), which the filter leaves out. */
  anyDdi: readonly RuleSpec[] = [],
): string[] {
  const c = pc.createColors(color);
  const out: string[] = [];
  const w = Math.max(8, ...rules.map((r) => r.id.length));
  out.push(
    c.bold(
      `${'RULE'.padEnd(w)}  ${'CHECKED BY'.padEnd(15)}  ${'CATEGORY'.padEnd(9)}  ${'STATUS'.padEnd(14)}  ${'BUG CHECK'.padEnd(16)}  RULE BOOK`,
    ),
  );
  for (const r of rules) {
    const status = r.status.kind === 'enforced' ? c.green('enforced'.padEnd(14)) : c.dim('not applicable');
    out.push(
      `${r.id.padEnd(w)}  ${(originText[r.origin] ?? r.origin).padEnd(15)}  ${r.category.padEnd(9)}  ${status}  ${bugCheckText(r.bugCheck).padEnd(16)}  ${r.spec.join(' ')}`,
    );
  }
  if (anyDdi.length > 0)
    out.push(
      '',
      `Rules about any DDI or callback, this one too (they name none): ${anyDdi.map((r) => r.id).join(', ')}.`,
    );
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
      '`ndis-sim rules <id>` explains one rule, and `ndis-sim rules R5.14` one rule of the rule book (the RULE BOOK column), which `--book` lists; `--states` prints the adapter state table.',
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
    // ndis-sim's own rules say how in their summary, printed above.
    out.push(
      `  In ndis-sim:           enforced at run time${r.status.how === r.summary ? '' : ` — ${r.status.how}`}`,
    );
  else out.push(`  In ndis-sim:           not applicable — ${r.status.reason}`);
  out.push(`  Category:              ${r.category}`);
  // The rule-book rules it enforces, each with its title (`ndis-sim rules R5.14` tells more).
  r.spec.forEach((id, i) => {
    const title = ruleBook.get(id)?.title ?? '';
    out.push(`  ${i === 0 ? 'Rule book:' : ''.padEnd(10)}             ${id.padEnd(6)} ${title}`);
  });
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
  ruleDocs(r).forEach((d, i) => {
    out.push(`  ${i === 0 ? 'Documentation:' : ''.padEnd(14)}         ${d}`);
  });
  const g = gallery.filter((x) => x.rule === r.id);
  for (const e of g) {
    out.push(`  Gallery:               ${e.driver.name} — ${e.mistake}`);
    out.push(`                         ndis-sim run ${galleryScenario(r.id)}`);
  }
  return out;
}

/** A rule-book id as the user may type it: R5.14, r5.14 or 5.14. */
export function ruleBookId(id: string): string | null {
  const m = /^[Rr]?(\d+\.\d+)$/.exec(id.trim());
  return m === null ? null : `R${m[1]}`;
}

const sourceText: Readonly<Record<RuleBookSource['kind'], string>> = {
  docs: 'Microsoft documentation',
  ddi: 'Microsoft DDI reference',
  sample: 'Windows-driver-samples',
  'ndis.sys': "ndis.sys's behaviour, read from its code",
  'native-wifi': "an older WDK Native WiFi sample, not in today's Windows-driver-samples",
};

/**
 * A rule's text (RuleBookEntry.text) for the terminal: each paragraph or list item
 * wrapped at `width` columns under a two-space indent (a list item's later lines under
 * its text), table rows as they are.
 */
export function ruleTextLines(text: string, width = 88): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('|')) {
      out.push(line === '' ? '' : `  ${line}`);
      continue;
    }
    const hang = ' '.repeat(/^([-*] |\d+\. )/.exec(line)?.[1]?.length ?? 0);
    let cur = '';
    for (const word of line.split(' ')) {
      if (cur !== '' && 2 + cur.length + 1 + word.length > width) {
        out.push(`  ${cur}`);
        cur = hang + word;
      } else cur = cur === '' || cur === hang ? `${cur}${word}` : `${cur} ${word}`;
    }
    if (cur !== '') out.push(`  ${cur}`);
  }
  return out;
}

/**
 * One rule of the rule book: its title, what it says, where it sits, what it cites,
 * and the verifier rules whose spec names it (the RULE BOOK column of the table).
 */
export function formatBookRule(e: RuleBookEntry, rules: readonly RuleSpec[], color: boolean): string[] {
  const c = pc.createColors(color);
  const out: string[] = [];
  out.push(`${c.bold(e.id)}  ${e.title}`);
  out.push('');
  out.push(...ruleTextLines(e.text));
  out.push('');
  const topic = ruleBookFiles.find((f) => f.file === e.file)?.topic;
  out.push(
    `  Rule book:             ${e.file}${topic === undefined ? '' : ` (${topic})`}${e.section === null ? '' : `, section "${e.section}"`}`,
  );
  e.sources.forEach((s, i) => {
    const head = i === 0 ? 'Sources:' : '';
    out.push(`  ${head.padEnd(21)}  ${s.url ?? `${sourceText[s.kind]} (${s.ref})`}`);
  });
  if (e.sources.every((s) => s.url === null))
    out.push(
      "                         The rule book cites only ndis.sys's code for it: what ndis.sys does, which the",
      '                         Microsoft pages may leave out or state otherwise.',
    );
  if (e.ambiguity)
    out.push(
      '  Open point:            the documentation leaves part of this open; docs/model.md, "Options for the',
      '                         points the docs leave open", says what the model does there',
    );
  const enforcing = rules.filter((r) => r.spec.includes(e.id));
  if (enforcing.length === 0) out.push('  Verifier rules:        none names it in its RULE BOOK column');
  else {
    // The columns of the rules table: rule, who checks it on Windows, status, bug check.
    const w = Math.max(...enforcing.map((r) => r.id.length));
    enforcing.forEach((r, i) => {
      const head = i === 0 ? 'Verifier rules:' : '';
      const status = r.status.kind === 'enforced' ? c.green('enforced'.padEnd(14)) : c.dim('not applicable');
      out.push(
        `  ${head.padEnd(21)}  ${r.id.padEnd(w)}  ${(originText[r.origin] ?? r.origin).padEnd(15)}  ${status}  ${bugCheckText(r.bugCheck)}`,
      );
    });
  }
  out.push(`  Model:                 docs/model.md, in its section on ${e.file}`);
  // The transitions (R1.2) and what each state defers (R1.4) are the state table's cells.
  if (e.id === 'R1.2' || e.id === 'R1.4')
    out.push("  State table:           `ndis-sim rules --states` prints the model's (src/ndis/states.ts)");
  out.push(c.dim('`ndis-sim rules <verifier rule>` explains one verifier rule.'));
  return out;
}

/** `rules --book`: every rule of the rule book, file by file, with how many verifier rules name it. */
export function formatBookTable(rules: readonly RuleSpec[], color: boolean): string[] {
  const c = pc.createColors(color);
  const out: string[] = [];
  for (const f of ruleBookFiles) {
    if (out.length > 0) out.push('');
    out.push(c.bold(`${f.file}: ${f.topic}`));
    for (const e of ruleBook.values()) {
      if (e.file !== f.file) continue;
      const n = rules.filter((r) => r.spec.includes(e.id)).length;
      const checked = n === 0 ? '' : c.dim(` (${n} verifier rule${n === 1 ? '' : 's'})`);
      out.push(`  ${e.id.padEnd(6)} ${e.title}${e.ambiguity ? c.yellow(' [open point]') : ''}${checked}`);
    }
  }
  out.push('');
  out.push(
    c.dim(
      '`ndis-sim rules R5.14` gives one rule: its sources, the verifier rules that name it. [open point]: the documentation leaves part of it open.',
    ),
  );
  return out;
}

/** The first and last rule-book ids, for a message: R1.1 to R8.13. */
export function ruleBookRange(): string {
  const ids = [...ruleBook.keys()];
  return `${ids[0]} to ${ids[ids.length - 1]}`;
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
