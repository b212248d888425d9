// Reading a scenario: YAML or JSON text → validated Scenario, or every problem
// as "file: path: expected …, got …".

import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { InputError } from '../errors.ts';
import { type Scenario, scenarioSchema, show } from './schema.ts';

function pathText(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : `.${String(p)}`;
  return s === '' ? '(top level)' : s;
}

function issueText(i: z.core.$ZodIssue): string {
  switch (i.code) {
    case 'invalid_type':
      return `expected ${i.expected}, got ${show(i.input)}`;
    case 'unrecognized_keys':
      return `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    case 'too_small':
      return `expected ${i.origin === 'array' ? `at least ${i.minimum} item(s)` : `at least ${i.minimum}`}, got ${show(i.input)}`;
    case 'too_big':
      return `expected at most ${i.maximum}, got ${show(i.input)}`;
    default:
      return i.message;
  }
}

/** Extra checks zod cannot make alone: names that must refer to something. */
function crossCheck(s: Scenario, drivers: readonly string[]): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const names = new Set<string>();
  s.devices.forEach((d, i) => {
    if (names.has(d.name))
      out.push({ path: `devices[${i}].name`, message: `expected a unique name, got ${show(d.name)} twice` });
    names.add(d.name);
    if (!drivers.includes(d.driver)) {
      const near = nearest(d.driver, drivers);
      out.push({
        path: `devices[${i}].driver`,
        message: `expected one of ${drivers.join(', ')}, got ${show(d.driver)}${near ? `; did you mean ${near}?` : ''}`,
      });
    }
  });
  s.actions.forEach((a, i) => {
    if (!names.has(a.device)) {
      out.push({
        path: `actions[${i}].device`,
        message: `expected one of the devices (${[...names].join(', ')}), got ${show(a.device)}`,
      });
    }
  });
  for (const key of Object.keys(s.expect?.devices ?? {})) {
    if (!names.has(key))
      out.push({ path: `expect.devices.${key}`, message: `expected a device name, got ${show(key)}` });
  }
  for (const key of Object.keys(s.expect?.adapters ?? {})) {
    if (!names.has(key))
      out.push({ path: `expect.adapters.${key}`, message: `expected a device name, got ${show(key)}` });
  }
  return out;
}

function nearest(x: string, options: readonly string[]): string | null {
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

function distance(a: string, b: string): number {
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

/** Validates parsed data; throws InputError with one line per problem. */
export function validateScenario(data: unknown, file: string, drivers: readonly string[]): Scenario {
  const r = scenarioSchema.safeParse(data);
  if (!r.success) {
    throw new InputError(r.error.issues.map((i) => `${file}: ${pathText(i.path)}: ${issueText(i)}`));
  }
  const more = crossCheck(r.data, drivers);
  if (more.length > 0) throw new InputError(more.map((p) => `${file}: ${p.path}: ${p.message}`));
  return r.data;
}

export function parseScenarioText(text: string, file: string, drivers: readonly string[]): Scenario {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InputError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${e.message.split('\n')[0]}`;
      }),
    );
  }
  return validateScenario(doc.toJS(), file, drivers);
}

export function loadScenario(file: string, drivers: readonly string[]): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError([
      `${file}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    ]);
  }
  return parseScenarioText(text, file, drivers);
}
