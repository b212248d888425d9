// The HTML report (`run --html`) in headless Chromium: the page's script draws the
// timeline and the event list, filters, selects, follows links, keeps a 150k-event
// trace virtualized, and shows a driver's text as text. Reports come from the CLI.
//
// The browser: $NDIS_SIM_CHROMIUM, else /usr/bin/chromium-headless-shell, else
// /usr/bin/chromium. Without one these tests are skipped, unless
// NDIS_SIM_REQUIRE_BROWSER=1 (as .ci/run sets it, having installed one): then the
// missing browser is a failure.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { parse, stringify } from 'yaml';

const chromiumPath = [
  process.env.NDIS_SIM_CHROMIUM,
  '/usr/bin/chromium-headless-shell',
  '/usr/bin/chromium',
].find((p): p is string => p !== undefined && p !== '' && existsSync(p));
const noBrowser =
  'no Chromium: install one with `apt-get install chromium-headless-shell` (or set NDIS_SIM_CHROMIUM to its path)';
const required = process.env.NDIS_SIM_REQUIRE_BROWSER === '1';
const skip = chromiumPath === undefined && !required ? noBrowser : false;

test('a browser for the HTML report tests, where NDIS_SIM_REQUIRE_BROWSER=1 asks for one', () => {
  if (required) assert.ok(chromiumPath !== undefined, noBrowser);
});

// The functions handed to page.evaluate and $eval run in the page. The project compiles
// without the DOM library, so what they touch of it is declared here.
declare const window: { scrollTo(x: number, y: number): void; __pwned?: unknown };
declare const location: { hash: string };
declare const document: { getElementById(id: string): PageElement | null };
interface PageElement {
  className: string;
  textContent: string | null;
  dataset: Record<string, string | undefined>;
  style: { top: string };
  scrollTop: number;
  scrollHeight: number;
  clientHeight: number;
  querySelector(selector: string): PageElement | null;
  getBoundingClientRect(): { top: number };
}
interface PageCanvas {
  width: number;
  height: number;
  getContext(id: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  };
}

/** The CLI, without waiting for the others: the reports are written side by side. */
function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FORCE_COLOR;
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['bin/ndis-sim.js', ...args],
      { encoding: 'utf8', env, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        done({ status, stdout, stderr });
      },
    );
  });
}

/** The data the page carries (HtmlReportData in src/report/html.ts), the parts read here. */
interface Data {
  strings: string[];
  ev: { t: number[]; kind: number[]; text: string[] };
  tracks: { group: number; name: number; slices: number[] }[];
}

function dataOf(file: string): Data {
  const html = readFileSync(file, 'utf8');
  const m = /<script type="application\/json" id="ndis-sim-data">(.*?)<\/script>/s.exec(html);
  assert.ok(m !== null, `${file} carries no data`);
  return JSON.parse(m[1]!) as Data;
}

// The driver of the escaping test: its MiniportInitializeEx throws HTML.
const evilMessage = '<img src=x onerror="window.__pwned=1">';
const evilDriver = `import * as N from 'ndis-sim';

const none = (): void => {};

function DriverEntry(driverObject: N.DRIVER_OBJECT, registryPath: string): N.NDIS_STATUS {
  const r = N.NdisMRegisterMiniportDriver(driverObject, registryPath, null, {
    Header: { Type: N.NDIS_OBJECT_TYPE_MINIPORT_DRIVER_CHARACTERISTICS, Revision: 2 },
    MajorNdisVersion: 6,
    MinorNdisVersion: 30,
    InitializeHandlerEx: () => {
      throw new Error(${JSON.stringify(evilMessage)});
    },
    PauseHandler: () => N.NDIS_STATUS_SUCCESS,
    RestartHandler: () => N.NDIS_STATUS_SUCCESS,
    HaltHandlerEx: none,
    OidRequestHandler: () => N.NDIS_STATUS_NOT_SUPPORTED,
    ResetHandlerEx: () => ({ Status: N.NDIS_STATUS_SUCCESS, AddressingReset: false }),
    SendNetBufferListsHandler: none,
    ReturnNetBufferListsHandler: none,
    CancelSendHandler: none,
    CancelOidRequestHandler: none,
    ShutdownHandlerEx: none,
    DevicePnPEventNotifyHandler: none,
    UnloadHandler: none,
  });
  return r.Status;
}

export const htmlThrowingNic: N.DriverModule = {
  name: 'html-throwing-nic',
  description: 'MiniportInitializeEx throws an error whose message is HTML',
  load: () => ({ DriverEntry }),
};
`;
const evilName = '<b id="pwned-name">escaping</b>';

// The bug-checking run: a gallery scenario without its expectation, so the bug check is
// the verdict (with the expectation met, the verdict would be "as expected").
const galleryRule = 'DoubleComplete';

describe('HTML report in Chromium', { skip }, () => {
  let browser: Browser;
  let dir: string;
  const report = { storm: '', traffic: '', bugcheck: '', evil: '' };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ndis-sim-html-'));
    for (const k of Object.keys(report) as (keyof typeof report)[]) report[k] = join(dir, `${k}.html`);
    const gallery = parse(readFileSync(`examples/gallery/${galleryRule}.yaml`, 'utf8')) as Record<
      string,
      unknown
    >;
    assert.ok('expect' in gallery);
    delete gallery.expect;
    writeFileSync(join(dir, 'bugcheck.yaml'), stringify(gallery));
    writeFileSync(join(dir, 'evil-driver.ts'), evilDriver);
    writeFileSync(
      join(dir, 'evil.yaml'),
      stringify({ name: evilName, until: '1s', devices: [{ name: 'nic0', driver: 'html-throwing-nic' }] }),
    );
    const q = '--quiet';
    const [runs, b] = await Promise.all([
      Promise.all([
        cli('run', 'examples/reset-storm.yaml', '--html', report.storm, q),
        cli('run', 'examples/vmini-traffic.yaml', '--html', report.traffic, q),
        cli('run', join(dir, 'bugcheck.yaml'), '--html', report.bugcheck, q),
        cli('run', join(dir, 'evil.yaml'), '--driver', join(dir, 'evil-driver.ts'), '--html', report.evil, q),
      ]),
      chromium.launch({
        executablePath: chromiumPath!,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      }),
    ]);
    browser = b;
    // 0: as expected; 1: a bug check nothing expected.
    assert.deepEqual(
      runs.map((r) => r.status),
      [0, 0, 1, 1],
      runs.map((r) => r.stderr).join('\n'),
    );
  });

  after(async () => {
    await browser?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Opens a report (at `hash`), waits for its script to finish, runs `check`, then
   * asserts the page logged no error and threw nothing.
   */
  async function onPage(
    file: string,
    check: (page: Page) => Promise<void>,
    opts: { hash?: string; loaded?: (ms: number) => void } = {},
  ): Promise<void> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      deviceScaleFactor: 1,
    });
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
      // Ready, or the script threw on the way (then it never will be).
      const threw = new Promise<never>((_, reject) =>
        page.once('pageerror', (e) => reject(new Error(`the page threw before it was ready: ${e.message}`))),
      );
      const t0 = performance.now();
      await page.goto(pathToFileURL(file).href + (opts.hash ?? ''));
      await Promise.race([
        page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 30_000 }),
        threw,
      ]);
      opts.loaded?.(performance.now() - t0);
      await check(page);
      assert.deepEqual(errors, [], 'the page logged errors');
    } finally {
      await context.close();
    }
  }

  /** The rendered (not hidden) rows of the event list, in list order. */
  function rows(page: Page): Promise<{ event: number; cls: string; text: string; top: number }[]> {
    return page.$$eval('#events .row:not([hidden])', (divs) =>
      divs
        .map((d) => ({
          event: Number((d as unknown as PageElement).dataset.event),
          cls: d.className,
          text: d.textContent ?? '',
          top: Number.parseFloat((d as unknown as PageElement).style.top),
        }))
        .sort((a, b) => a.top - b.top),
    );
  }

  test('reset storm: verdict good, the timeline is drawn, the list shows every event, the state table marks the transitions taken', async () => {
    const data = dataOf(report.storm);
    const n = data.ev.t.length;
    await onPage(report.storm, async (page) => {
      assert.match((await page.getAttribute('#verdict', 'class')) ?? '', /\bgood\b/);
      assert.match((await page.textContent('#verdict')) ?? '', /as expected/);
      // Coloured (not white, not grey) pixels right of the track names: the slices.
      const coloured = await page.$eval('canvas#timeline', (c) => {
        const canvas = c as unknown as PageCanvas;
        const g = canvas.getContext('2d')!;
        const img = g.getImageData(231, 0, canvas.width - 231, canvas.height).data;
        let k = 0;
        for (let p = 0; p < img.length; p += 4) {
          const [r, gr, b, a] = [img[p]!, img[p + 1]!, img[p + 2]!, img[p + 3]!];
          if (a > 200 && Math.max(r, gr, b) - Math.min(r, gr, b) > 40) k++;
        }
        return { k, area: (canvas.width - 231) * canvas.height };
      });
      assert.ok(coloured.k > coloured.area / 20, `${coloured.k} coloured pixels of ${coloured.area}`);
      assert.equal(await page.textContent('#shown'), `${n} events`);
      const shown = await rows(page);
      assert.ok(shown.length >= 20, `${shown.length} rows rendered`);
      assert.deepEqual(
        shown.map((r) => r.event),
        shown.map((_, i) => i),
      );
      assert.match(shown[0]!.text, /scenario: start nic0/);
      const taken = await page.$$eval('#states table.states td.taken', (tds) =>
        tds.map((t) => t.textContent),
      );
      assert.ok(taken.length >= 4, `${taken.length} cells taken`);
      assert.ok(
        taken.some((t) => /→ Running.*nic0 ×1/.test(t ?? '')),
        taken.join(' | '),
      );
    });
  });

  test('filters: text leaves only rows that contain it ("k of N"), the kind filter only that kind, clearing shows all', async () => {
    const data = dataOf(report.storm);
    const n = data.ev.t.length;
    const q = 'NdisMRemoveMiniport';
    const withText = data.ev.text.filter((t) => t.toLowerCase().includes(q.toLowerCase())).length;
    const irps = data.ev.kind.filter((k) => data.strings[k] === 'irp').length;
    assert.ok(withText > 0 && withText < 20 && irps > 0 && irps < n);
    await onPage(report.storm, async (page) => {
      await page.fill('#filter', q);
      assert.equal(await page.textContent('#shown'), `${withText} of ${n} events`);
      const byText = await rows(page);
      assert.equal(byText.length, withText);
      for (const r of byText) assert.ok(r.text.includes(q), r.text);
      await page.fill('#filter', '');
      assert.equal(await page.textContent('#shown'), `${n} events`);
      await page.selectOption('#kind-filter', 'irp');
      assert.equal(await page.textContent('#shown'), `${irps} of ${n} events`);
      const byKind = await rows(page);
      assert.equal(byKind.length, Math.min(irps, byKind.length));
      assert.ok(byKind.length > 0);
      for (const r of byKind) assert.equal(r.cls, 'row irp');
      await page.selectOption('#kind-filter', '');
      assert.equal(await page.textContent('#shown'), `${n} events`);
      assert.equal((await rows(page))[0]!.event, 0);
    });
  });

  test('selection: a clicked row is .sel, the hash is #e<N>, the details name it; ArrowDown selects the next visible row', async () => {
    const data = dataOf(report.storm);
    const irps = data.ev.kind.flatMap((k, i) => (data.strings[k] === 'irp' ? [i] : []));
    await onPage(report.storm, async (page) => {
      await page.click('#events .row[data-event="10"]');
      assert.deepEqual(
        (await rows(page)).filter((r) => r.cls.split(' ').includes('sel')).map((r) => r.event),
        [10],
      );
      assert.equal(await page.evaluate(() => location.hash), '#e10');
      assert.match((await page.textContent('#details')) ?? '', /^Trace event 10 at /);
      await page.focus('#events');
      await page.keyboard.press('ArrowDown');
      assert.equal(await page.getAttribute('#events .row.sel', 'data-event'), '11');
      assert.equal(await page.evaluate(() => location.hash), '#e11');
      assert.match((await page.textContent('#details')) ?? '', /^Trace event 11 at /);
      // With a filter, the next visible row is the next event of that kind.
      await page.selectOption('#kind-filter', 'irp');
      await page.click(`#events .row[data-event="${irps[0]}"]`);
      await page.focus('#events');
      await page.keyboard.press('ArrowDown');
      assert.equal(await page.getAttribute('#events .row.sel', 'data-event'), String(irps[1]));
      assert.match((await page.textContent('#details')) ?? '', new RegExp(`^Trace event ${irps[1]} at `));
      // For a screen reader: a listbox of options, each placed among all the rows shown,
      // the selected one named as the active descendant.
      assert.equal(await page.getAttribute('#events', 'role'), 'listbox');
      const sel = await page.$eval('#events .row.sel', (el) => ({
        id: el.id,
        role: el.getAttribute('role'),
        selected: el.getAttribute('aria-selected'),
        pos: el.getAttribute('aria-posinset'),
        size: el.getAttribute('aria-setsize'),
      }));
      assert.deepEqual(sel, {
        id: 'row-1',
        role: 'option',
        selected: 'true',
        pos: '2',
        size: String(irps.length),
      });
      assert.equal(await page.getAttribute('#events', 'aria-activedescendant'), 'row-1');
      assert.equal(await page.locator('#events .row[aria-selected="true"]').count(), 1);
    });
  });

  test('timeline: a click on nic0 Running selects the event that began it; zoom changes the range and whole run restores it; the time axis names times', async () => {
    const data = dataOf(report.storm);
    const S = data.strings;
    // nic0's state slice "Running", from the embedded data.
    let running = -1;
    for (const tr of data.tracks) {
      if (!S[tr.group]!.startsWith('nic0')) continue;
      for (let k = 0; k < tr.slices.length; k += 5)
        if (S[tr.slices[k + 4]!] === 'state' && S[tr.slices[k + 3]!] === 'Running') running = tr.slices[k]!;
    }
    assert.ok(running > 0);
    await onPage(report.storm, async (page) => {
      // The widest horizontal run of the Running colour on the canvas: click its middle.
      const at = await page.$eval('canvas#timeline', (c) => {
        const canvas = c as unknown as PageCanvas;
        const img = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let best = { x: -1, y: -1, w: 0 };
        for (let y = 0; y < canvas.height; y++) {
          let start = -1;
          for (let x = 0; x <= canvas.width; x++) {
            const p = (y * canvas.width + x) * 4;
            const hit = x < canvas.width && img[p] === 0x3b && img[p + 1] === 0xa5 && img[p + 2] === 0x5c;
            if (hit && start < 0) start = x;
            if (!hit && start >= 0) {
              if (x - start > best.w) best = { x: start + (x - start) / 2, y, w: x - start };
              start = -1;
            }
          }
        }
        return best;
      });
      assert.ok(at.w > 100, `the Running slice is ${at.w} px wide`);
      const canvas = page.locator('canvas#timeline');
      await canvas.hover({ position: { x: at.x, y: at.y } });
      assert.match((await page.textContent('#tip')) ?? '', /^Running\n/);
      await canvas.click({ position: { x: at.x, y: at.y } });
      assert.match((await page.textContent('#details')) ?? '', new RegExp(`^Trace event ${running} at `));
      assert.match((await page.textContent('#details')) ?? '', /On the track nic0 .*: Running, until event/);
      assert.equal(await page.getAttribute('#events .row.sel', 'data-event'), String(running));
      assert.equal(await page.evaluate(() => location.hash), `#e${running}`);

      const n = data.ev.t.length;
      const whole = await page.textContent('#range');
      assert.equal(whole, `trace events 0–${n - 1} of ${n}`);
      await page.click('#zoom-in');
      const zoomed = await page.textContent('#range');
      const m = /^trace events (\d+)–(\d+) of \d+$/.exec(zoomed ?? '');
      assert.ok(m !== null, zoomed ?? '');
      assert.ok(Number(m[2]) - Number(m[1]) < n / 2 + 1, zoomed ?? '');
      await page.click('#zoom-fit');
      assert.equal(await page.textContent('#range'), whole);
      await page.selectOption('#axis', 'time');
      assert.match((await page.textContent('#range')) ?? '', /^0\.000000 s – [1-9]\d*\.\d{6} s$/);
    });
  });

  test('bug check: verdict bad, #bugcheck links to its event (selected, the list scrolled into view, again on a second click), #rules explains the rule', async () => {
    const data = dataOf(report.bugcheck);
    await onPage(report.bugcheck, async (page) => {
      assert.match((await page.getAttribute('#verdict', 'class')) ?? '', /\bbad\b/);
      assert.match(
        (await page.textContent('#verdict')) ?? '',
        new RegExp(`bug check .*\\(${galleryRule}\\)`),
      );
      const link = page.locator('#bugcheck a.ev-link');
      assert.equal(await link.count(), 1);
      const event = Number(await link.getAttribute('data-event'));
      assert.equal(await link.getAttribute('href'), `#e${event}`);
      assert.ok(['bugcheck', 'violation'].includes(data.strings[data.ev.kind[event]!]!));
      const eventsTop = () =>
        page.evaluate(() => document.getElementById('events-section')!.getBoundingClientRect().top);
      assert.ok((await eventsTop()) > 400, 'the events section starts far down the window');
      for (const time of ['first', 'second']) {
        await link.click();
        const sel = page.locator('#events .row.sel');
        assert.equal(await sel.getAttribute('data-event'), String(event), `${time} click`);
        assert.match((await sel.getAttribute('class')) ?? '', /\b(bugcheck|violation)\b/);
        const top = await eventsTop();
        assert.ok(top >= -1 && top < 100, `${time} click: the events section is at ${top} px`);
        // The row is inside the list's visible part.
        const inBox = await page.$eval('#events', (b) => {
          const box = b as unknown as PageElement;
          const row = box.querySelector('.row.sel')!;
          const y = Number.parseFloat(row.style.top);
          return y >= box.scrollTop && y + 18 <= box.scrollTop + box.clientHeight;
        });
        assert.ok(inBox, `${time} click: the selected row is scrolled into the list`);
        assert.match((await page.textContent('#details')) ?? '', new RegExp(`^Trace event ${event} at `));
        await page.evaluate(() => window.scrollTo(0, 0));
      }
      const rule = page.locator(`#rules div.rule#rule-${galleryRule}`);
      assert.equal(await rule.count(), 1);
      assert.match((await rule.textContent()) ?? '', /Documentation/);
      assert.equal(await page.locator(`#bugcheck a[href="#rule-${galleryRule}"]`).count(), 1);
    });
  });

  test('#e5 in the address selects event 5 as the page opens', async () => {
    await onPage(
      report.storm,
      async (page) => {
        assert.equal(await page.getAttribute('#events .row.sel', 'data-event'), '5');
        assert.equal(await page.locator('#events .row.sel').count(), 1);
        assert.match((await page.textContent('#details')) ?? '', /^Trace event 5 at /);
      },
      { hash: '#e5' },
    );
  });

  test('a 150k-event trace (vmini traffic) is ready within 15 s and renders fewer than 200 rows, to its last event', async () => {
    const n = dataOf(report.traffic).ev.t.length;
    assert.ok(n > 100_000, `${n} events`);
    let ms = Number.NaN;
    await onPage(
      report.traffic,
      async (page) => {
        assert.equal(await page.textContent('#shown'), `${n} events`);
        assert.ok((await page.locator('.row').count()) < 200);
        await page.$eval('#events', (b) => {
          const box = b as unknown as PageElement;
          box.scrollTop = box.scrollHeight;
        });
        await page.waitForSelector(`#events .row[data-event="${n - 1}"]:not([hidden])`, { timeout: 5000 });
        assert.ok((await page.locator('.row').count()) < 200);
      },
      { loaded: (t) => (ms = t) },
    );
    assert.ok(ms < 15_000, `ready after ${Math.round(ms)} ms`);
  });

  test("escaping: a driver's message and a scenario name that are HTML show as text", async () => {
    await onPage(report.evil, async (page) => {
      const bugcheck = (await page.textContent('#bugcheck')) ?? '';
      assert.ok(bugcheck.includes(evilMessage), bugcheck);
      assert.equal(await page.textContent('h1'), evilName);
      // The event list and the details panel show it too.
      await page.click('#bugcheck a.ev-link');
      assert.ok(((await page.textContent('#details')) ?? '').includes(evilMessage));
      assert.ok(((await page.textContent('#events .row.sel')) ?? '').includes(evilMessage));
      await page.waitForTimeout(200);
      assert.equal(await page.evaluate(() => window.__pwned), undefined);
      assert.equal(await page.locator('img, #pwned-name').count(), 0);
    });
  });
});
