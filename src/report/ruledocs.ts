// Where to read about a verifier rule: the Microsoft page it comes from, or the pages of
// its rule-book rules. Shared by `ndis-sim rules`, the HTML report and the bug-check block.

import { ruleBook } from '../ndis/generated/rulebook.ts';
import type { RuleSpec } from '../verifier/catalogue.ts';

/** The source of the rules that come from the rule book alone (catalogue.ts). */
const specSource = 'ndis-sim spec';

/**
 * Where to read about a verifier rule: its Microsoft page; for a rule of the rule book
 * alone, the pages its rule-book rules cite; else where docs/model.md names it.
 */
export function ruleDocs(r: RuleSpec): string[] {
  const url = docUrl(r.source);
  if (url !== null) return [url];
  if (r.source !== specSource) return [r.source];
  if (r.spec.length === 0) return ["docs/model.md, where it names the rule (a rule of ndis-sim's own)"];
  const pages = [
    ...new Set(r.spec.flatMap((id) => (ruleBook.get(id)?.sources ?? []).flatMap((x) => x.url ?? []))),
  ];
  return pages.length > 0
    ? pages
    : ['none: its rule-book rules describe what ndis.sys does, which the docs leave out'];
}

/** The learn.microsoft.com page of a windows-driver-docs or windows-driver-docs-ddi file. */
export function docUrl(source: string): string | null {
  const m = /^windows-driver-docs-pr\/(.+)\.md$/.exec(source);
  if (m !== null) return `https://learn.microsoft.com/en-us/windows-hardware/drivers/${m[1]}`;
  const d = /^wdk-ddi-src\/content\/(.+)\.md$/.exec(source);
  if (d !== null) return `https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/${d[1]}`;
  return null;
}
