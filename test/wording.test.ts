// Wording a new user meets in the help, the summary and the HTML report: the same word
// for the same thing, and help text that says what the option does.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cli } from './helpers/cli.ts';
import { scenarioHtml } from './helpers/report.ts';

test("run and replay --help say that --quiet keeps a bug check's report", () => {
  for (const command of ['run', 'replay']) {
    const h = cli(command, '--help');
    assert.match(
      h.stdout,
      /--quiet +print only the summary \(after a bug check's\s+report,\s+if\s+there is one\)/,
    );
  }
});

test("the HTML report's header counts queue events, the word of the summary line and the README", () => {
  const { html } = scenarioHtml('examples/reset-storm.yaml');
  const facts = /<p class="facts">([^<]*)<\/p>/.exec(html)?.[1] ?? '';
  const summary = cli('run', 'examples/reset-storm.yaml', '--quiet').stdout;
  const n = /, (\d+) queue events, /.exec(summary)?.[1];
  assert.ok(n !== undefined, summary);
  assert.ok(facts.includes(` · ${n} queue events · `), facts);
  assert.ok(!facts.includes('simulation events'));
});
