// `ndis-sim rules R5.14`: a rule-book id from a test name, a trace line or docs/model.md
// looked up from the committed index (src/ndis/generated/rulebook.ts, made by
// scripts/gen-tables.ts from ../shared/ndis/0*.md and data/rule-book.json).

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ruleBook, ruleBookFiles } from '../src/ndis/generated/rulebook.ts';
import { formatBookRule, formatRule } from '../src/report/rules.ts';
import { catalogue } from '../src/verifier/catalogue.ts';
import { cli } from './helpers/cli.ts';
import { scenarioHtml } from './helpers/report.ts';

const all = [...catalogue.values()];

test('rules R5.14 prints the rule-book rule: title, file, its source, and that no verifier rule names it', () => {
  const r = cli('rules', 'R5.14');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const e = ruleBook.get('R5.14')!;
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], `R5.14  ${e.title}`);
  assert.match(
    r.stdout,
    /Rule book: +05-removal\.md \(Removal and NdisMRemoveMiniport\), section "NdisMRemoveMiniport"/,
  );
  // R5.14 comes from ndis.sys's code only: no page to link, and the output says so.
  assert.match(
    r.stdout,
    /Sources: +ndis\.sys's behaviour, read from its code \(NdisMRemoveMiniportInternal\)/,
  );
  assert.match(r.stdout, /The rule book cites only ndis\.sys's code for it/);
  assert.deepEqual(
    all.filter((x) => x.spec.includes('R5.14')),
    [],
    'the test below covers a rule some verifier rule names',
  );
  assert.match(r.stdout, /Verifier rules: +none names it/);
  assert.match(r.stdout, /Model: +docs\/model\.md, in its section on 05-removal\.md/);
});

test('rules R8.2 links every Microsoft page the rule cites and lists each verifier rule whose RULE BOOK column names it', () => {
  const r = cli('rules', 'R8.2');
  assert.equal(r.status, 0, r.stderr);
  const e = ruleBook.get('R8.2')!;
  assert.ok(e.sources.length >= 2);
  for (const s of e.sources) {
    assert.ok(s.url?.startsWith('https://learn.microsoft.com/en-us/windows-hardware/drivers/'), s.ref);
    assert.ok(r.stdout.includes(s.url!), `missing ${s.url}`);
  }
  const enforcing = all.filter((x) => x.spec.includes('R8.2'));
  assert.ok(enforcing.length > 1);
  for (const x of enforcing) assert.match(r.stdout, new RegExp(`^ +(Verifier rules: +)?${x.id} +`, 'm'));
  // Rules that do not name R8.2 stay out.
  assert.ok(!/^ +SpinLockBalanced /m.test(r.stdout));
});

test('a rule-book id is found in any case and without its R; the output is the same', () => {
  const a = cli('rules', 'R5.20');
  assert.equal(a.status, 0, a.stderr);
  assert.equal(cli('rules', 'r5.20').stdout, a.stdout);
  assert.equal(cli('rules', '5.20').stdout, a.stdout);
  assert.match(a.stdout, /NdisSim_StaleHandle +ndis-sim +enforced +0xC4\/0x4E530001/);
});

test('an unknown rule id is bad usage (exit 2) with the near matches, nothing on stdout', () => {
  const a = cli('rules', 'R5.99');
  assert.equal(a.status, 2);
  assert.equal(a.stdout, '');
  assert.match(
    a.stderr,
    /^rules: expected a verifier rule \(ndis-sim rules lists them\) or a rule-book id \(R1\.1 to R8\.13\), got "R5\.99"; did you mean R5\.9, R5\.19\?\n$/,
  );
  // A chapter the book lacks: the rules of the same number in each chapter.
  const b = cli('rules', 'R9.1');
  assert.equal(b.status, 2);
  assert.match(b.stderr, /got "R9\.1"; did you mean R1\.1, R2\.1, R3\.1, R4\.1, R5\.1\?/);
  const c = cli('rules', 'SpinLockBalancd');
  assert.equal(c.status, 2);
  assert.match(c.stderr, /did you mean SpinLockBalanced\?/);
  const d = cli('rules', 'nothing-like-it');
  assert.equal(d.status, 2);
  assert.match(d.stderr, /got "nothing-like-it"\n$/);
});

test('a verifier rule is found in any case, and shows the title of each rule-book rule it enforces', () => {
  const r = cli('rules', 'spinlockbalanced');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^SpinLockBalanced\n/);
  const spec = catalogue.get('SpinLockBalanced')!.spec;
  assert.ok(spec.length > 0);
  for (const id of spec) assert.ok(r.stdout.includes(`${id.padEnd(6)} ${ruleBook.get(id)!.title}`), id);
});

test('every rule-book id the RULE BOOK column, docs/model.md and the code cite can be looked up', () => {
  for (const r of all) for (const id of r.spec) assert.ok(ruleBook.has(id), `${r.id} names ${id}`);
  const cited = new Set<string>();
  const scan = (dir: string): void => {
    for (const f of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, f.name);
      if (f.isDirectory()) scan(p);
      else if (/\.(ts|md)$/.test(f.name) && !p.includes('generated'))
        for (const m of readFileSync(p, 'utf8').matchAll(/\bR\d+\.\d+\b/g)) cited.add(m[0]);
    }
  };
  scan('src');
  scan('docs');
  assert.ok(cited.size > 100);
  for (const id of cited) assert.ok(ruleBook.has(id), `${id} is cited but not in the rule book`);
});

test('each rule the book marks as an open point is in docs/model.md "Options for the points the docs leave open"', () => {
  const model = readFileSync('docs/model.md', 'utf8');
  const start = model.indexOf('## Options for the points the docs leave open');
  const options = model.slice(start, model.indexOf('\n## ', start + 1));
  const open = [...ruleBook.values()].filter((e) => e.ambiguity);
  assert.ok(open.length > 5);
  for (const e of open) {
    assert.ok(new RegExp(`\\b${e.id.replace('.', '\\.')}\\b`).test(options), `${e.id} missing there`);
    assert.ok(formatBookRule(e, all, false).some((l) => l.includes('Open point:')));
  }
  assert.ok(!formatBookRule(ruleBook.get('R5.14')!, all, false).some((l) => l.includes('Open point:')));
});

test('docs/model.md has a section for each rule-book file the output points to', () => {
  const model = readFileSync('docs/model.md', 'utf8');
  assert.equal(ruleBookFiles.length, 8);
  for (const f of ruleBookFiles)
    assert.match(model, new RegExp(`^## .* — ${f.file.replace('.', '\\.')}$`, 'm'));
});

test('rules --help names rule-book ids; the rules table footer says how to look one up', () => {
  const h = cli('rules', '--help');
  assert.equal(h.status, 0);
  assert.match(h.stdout, /a\s+rule-book id, e\.g\. R5\.14/);
  const t = cli('rules');
  assert.match(t.stdout, /`ndis-sim rules R5\.14` one rule of the rule book \(the RULE BOOK column\)/);
  assert.ok(
    formatRule(catalogue.get('SpinLock')!, [], false).some((l) => /^ {2}Rule book: +R8\.10 /.test(l)),
  );
});

// Clean room: the titles are our own words. Against the rule book itself, where it is
// here: no run of five words of a title is copied from it.
test('rule-book titles copy no five-word run of the rule book', {
  skip: !existsSync('../shared/ndis') && 'no ../shared here',
}, () => {
  const words = (s: string): string[] =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9_.]+/g, ' ')
      .trim()
      .split(' ');
  const book = ` ${readdirSync('../shared/ndis')
    .filter((f) => /^\d\d-.*\.md$/.test(f))
    .map((f) => words(readFileSync(join('../shared/ndis', f), 'utf8')).join(' '))
    .join(' ')} `;
  assert.equal(ruleBook.size, 122);
  for (const e of ruleBook.values()) {
    const w = words(e.title);
    for (let i = 0; i + 5 <= w.length; i++) {
      const run = ` ${w.slice(i, i + 5).join(' ')} `;
      assert.ok(!book.includes(run), `${e.id}: "${run.trim()}" is the rule book's wording`);
    }
  }
});

test('a bug check\'s block gives the title of each rule-book rule beside its id, labelled "Rule book:" as `rules <id>` labels them (R8.6, the gallery\'s NdisSim_TimerFreedWhileSet)', () => {
  const spec = catalogue.get('NdisSim_TimerFreedWhileSet')!.spec;
  assert.ok(spec.length > 1);
  const r = cli('run', 'examples/gallery/NdisSim_TimerFreedWhileSet.yaml', '--quiet');
  assert.equal(r.status, 0, r.stderr); // the gallery scenario expects its bug check
  const lines = r.stdout.split('\n');
  const at = lines.findIndex((l) => l.startsWith('  Rule book: '));
  assert.ok(at > 0, r.stdout);
  spec.forEach((id, i) => {
    assert.equal(lines[at + i]!.slice(13).trimEnd(), `${id.padEnd(6)} ${ruleBook.get(id)!.title}`);
  });
  assert.match(
    lines[at + spec.length]!,
    /^ {2}See: +ndis-sim rules NdisSim_TimerFreedWhileSet( · https:\/\/\S+)?$/,
  );
  assert.match(lines[at + spec.length + 1]!, /^ {2}Where: /);
  // The same label in `rules <id>` (and the HTML report's, below): not "Spec:" in one place.
  const rules = cli('rules', 'NdisSim_TimerFreedWhileSet').stdout;
  assert.match(rules, new RegExp(`^ {2}Rule book: +${spec[0]} `, 'm'));
  assert.ok(!/Spec:|\bSPEC\b/.test(r.stdout + rules), 'the old label');
});

/** The HTML report of a scenario's own run, and the rule of its bug check. */
function htmlReport(file: string): { html: string; rule: string | undefined } {
  const { html, result } = scenarioHtml(file);
  return { html, rule: result.bugCheck?.rule };
}

const abbr = (id: string): string =>
  `<abbr title="${id}: ${ruleBook.get(id)!.title} (ndis-sim rules ${id})">${id}</abbr>`;

test("the HTML report marks each rule-book id of the bug check and of the rules with the rule's title", () => {
  const { html, rule } = htmlReport('examples/gallery/NdisSim_TimerFreedWhileSet.yaml');
  assert.equal(rule, 'NdisSim_TimerFreedWhileSet');
  const spec = catalogue.get('NdisSim_TimerFreedWhileSet')!.spec;
  // The bug check: the ids, each marked. The Rules section: each with its title as text.
  assert.ok(html.includes(`<dt>Rule book</dt><dd>${spec.map(abbr).join(', ')}</dd>`));
  assert.ok(
    html.includes(
      `<dt>Rule book</dt><dd>${spec.map((id) => `${abbr(id)} ${ruleBook.get(id)!.title}`).join('<br>')}</dd>`,
    ),
  );
});

test("the HTML report's removal steps mark their rule-book ids (R5.11, R5.12) with the titles", () => {
  const { html } = htmlReport('examples/reset-storm.yaml');
  const removal = html.slice(
    html.indexOf('<section id="removal">'),
    html.indexOf('</section>', html.indexOf('<section id="removal">')),
  );
  assert.ok(removal.length > 0);
  for (const id of ['R5.11', 'R5.12']) assert.ok(removal.includes(abbr(id)), `${id} marked in the steps`);
  assert.ok(!/\(R\d+\.\d+[,)]/.test(removal), 'no step cites a bare id');
});

test('rules takes an id, filters or --states, one form at a time: a mix is bad usage (exit 2), not a silent choice', () => {
  const a = cli('rules', '--states', 'R5.14');
  assert.equal(a.status, 2);
  assert.equal(a.stdout, '');
  assert.equal(
    a.stderr,
    'rules --states: expected no rule id and no filter (it prints the adapter state table), got "R5.14"\n',
  );
  const b = cli('rules', 'SpinLock', '--status', 'enforced', '--origin', 'sdv');
  assert.equal(b.status, 2);
  assert.equal(b.stdout, '');
  assert.equal(
    b.stderr,
    'rules SpinLock: expected no filter with a rule id (it explains that one rule), got --status, --origin\n',
  );
  const c = cli('rules', '--states', '--ddi', 'NdisMRemoveMiniport');
  assert.equal(c.status, 2);
  assert.match(c.stderr, /got --ddi\n$/);
  // Each form alone still works.
  assert.equal(cli('rules', '--states').status, 0);
  assert.equal(cli('rules', '--ddi', 'NdisMRemoveMiniport').status, 0);
});

test('rules --ddi NdisMRemoveMiniport also names the rules about any DDI, such as NdisSim_StaleHandle (R5.20), which its filter leaves out', () => {
  const r = cli('rules', '--ddi', 'NdisMRemoveMiniport');
  assert.equal(r.status, 0, r.stderr);
  const general = all.filter((x) => x.ddis.length === 0).map((x) => x.id);
  assert.ok(general.includes('NdisSim_StaleHandle'));
  assert.ok(
    r.stdout.includes(
      `Rules about any DDI or callback, this one too (they name none): ${general.join(', ')}.`,
    ),
    r.stdout,
  );
  // They stay out of the table itself, which lists the rules that name the DDI.
  assert.ok(!/^NdisSim_StaleHandle /m.test(r.stdout));
  assert.match(r.stdout, /^Irql_Miniport_Driver_Function /m);
  // Without --ddi there is no such line; the other filters apply to it too.
  assert.ok(!cli('rules').stdout.includes('Rules about any DDI'));
  const na = cli('rules', '--ddi', 'NdisMRemoveMiniport', '--status', 'not-applicable');
  const naGeneral = all
    .filter((x) => x.ddis.length === 0 && x.status.kind === 'not-applicable')
    .map((x) => x.id);
  assert.ok(na.stdout.includes(`(they name none): ${naGeneral.join(', ')}.`), na.stdout);
});

test('rules R1.2 and R1.4 point to the state table, whose cells they are; other rules do not', () => {
  for (const id of ['R1.2', 'R1.4'])
    assert.ok(
      formatBookRule(ruleBook.get(id)!, all, false).includes(
        "  State table:           `ndis-sim rules --states` prints the model's (src/ndis/states.ts)",
      ),
      id,
    );
  assert.ok(!formatBookRule(ruleBook.get('R1.3')!, all, false).some((l) => l.includes('State table:')));
});

test('rules --book lists every rule of the rule book under its file, with its title, its open point and how many verifier rules name it', () => {
  const r = cli('rules', '--book');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  for (const f of ruleBookFiles) assert.ok(lines.includes(`${f.file}: ${f.topic}`), f.file);
  const rows = lines.filter((l) => /^ {2}R\d+\.\d+ /.test(l));
  assert.deepEqual(
    rows.map((l) => l.trim().split(' ')[0]),
    [...ruleBook.keys()],
  );
  for (const e of ruleBook.values()) {
    const row = rows.find((l) => l.startsWith(`  ${e.id.padEnd(6)} `))!;
    assert.ok(row.includes(e.title), e.id);
    assert.equal(row.includes('[open point]'), e.ambiguity, e.id);
    const n = all.filter((x) => x.spec.includes(e.id)).length;
    assert.equal(row.endsWith(`(${n} verifier rule${n === 1 ? '' : 's'})`), n > 0, `${e.id}: ${row}`);
  }
  // With an id, a filter or --states it is bad usage.
  const bad = cli('rules', '--book', 'R5.1');
  assert.equal(bad.status, 2);
  assert.equal(
    bad.stderr,
    'rules --book: expected no rule id and no filter (it prints the rule book), got "R5.1"\n',
  );
  assert.equal(cli('rules', '--book', '--states').status, 2);
});

test('every verifier rule explained gives a page to read: a DDI reference page as a learn.microsoft.com address, a rule of the rule book the pages its rule-book rules cite', () => {
  for (const r of all) {
    const lines = formatRule(r, [], false);
    const at = lines.findIndex((l) => l.startsWith('  Documentation:'));
    assert.ok(at > 0, r.id);
    const first = lines[at]!.slice(25);
    assert.ok(
      first.startsWith('https://learn.microsoft.com/en-us/windows-hardware/drivers/') ||
        first.startsWith('docs/model.md'),
      `${r.id}: ${first}`,
    );
  }
  // A DDI reference page of the catalogue: its address, not its path in the docs repository.
  const reset = formatRule(catalogue.get('NdisSim_ResetDoubleComplete')!, [], false).join('\n');
  assert.match(
    reset,
    /Documentation: +https:\/\/learn\.microsoft\.com\/en-us\/windows-hardware\/drivers\/ddi\/ndis\/nc-ndis-miniport_reset$/m,
  );
  // NdisSim_StaleHandle (R5.20, R2.8): the pages those two cite, once each.
  const stale = catalogue.get('NdisSim_StaleHandle')!;
  const pages = [
    ...new Set(stale.spec.flatMap((id) => ruleBook.get(id)!.sources.flatMap((s) => s.url ?? []))),
  ];
  assert.ok(pages.length > 0);
  const text = formatRule(stale, [], false).join('\n');
  for (const p of pages) assert.equal(text.split(p).length, 2, p);
  assert.ok(!text.includes('ndis-sim spec'));
  // An ndis-sim rule says how in its summary: "enforced at run time" is not followed by it again.
  assert.match(text, /In ndis-sim: +enforced at run time\n/);
});

test("rules R5.7 prints what the rule says, wrapped, without the rule book's bracketed citations (they are its Sources)", () => {
  const r = cli('rules', 'R5.7');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const body = lines.slice(2, lines.indexOf('', 2));
  assert.ok(body.length > 1 && body.every((l) => l.startsWith('  ') && l.length <= 88), body.join('\n'));
  const text = body.map((l) => l.trim()).join(' ');
  assert.match(text, /completes every send or OID that arrives before halt with NDIS_STATUS_NOT_ACCEPTED/);
  assert.doesNotMatch(r.stdout, /\[windows-driver-docs/);
  assert.ok(lines.indexOf('', 2) < lines.findIndex((l) => l.startsWith('  Rule book:')));
  for (const e of ruleBook.values()) {
    assert.ok(e.text.length > 0, e.id);
    assert.doesNotMatch(
      e.text,
      /\[(?:windows-driver-docs|Windows-driver-samples|ndis\.sys RE|Native WiFi)/,
      e.id,
    );
    assert.ok(!e.text.startsWith(`**${e.id}**`), e.id);
  }
});

// Each rule's text is the rule book's, word for word, less its citations.
test("each rule-book entry's text is its rule's words in the rule book", {
  skip: !existsSync('../shared/ndis') && 'no ../shared here',
}, () => {
  const words = (s: string): string =>
    s
      .replace(/\[([A-Za-z][^\]:]*?): ([^\]]+)\](?:[ \t]*\([^)]*\))?/g, ' ')
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, ' ')
      .trim();
  for (const e of ruleBook.values()) {
    const book = words(readFileSync(join('../shared/ndis', e.file), 'utf8'));
    assert.ok(book.includes(`${words(e.id)} ${words(e.text)}`), `${e.id}: ${e.text.slice(0, 80)}`);
  }
});

test('rules R5.10: the page lists SUCCESS and FAILURE, ndis.sys returns SUCCESS (request recorded); nothing says the documentation leaves the status out', () => {
  const r = cli('rules', 'R5.10');
  assert.equal(r.status, 0, r.stderr);
  const text = r.stdout.replace(/\s+/g, ' ');
  assert.match(text, /docs list SUCCESS \("removed"\) and FAILURE/);
  assert.match(text, /meaning "request recorded"/);
  assert.doesNotMatch(text, /leaves it out|No Microsoft page states it/);
  assert.doesNotMatch(readFileSync('docs/model.md', 'utf8'), /leaves it out/);
});
