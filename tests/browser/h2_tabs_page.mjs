// Opens the dashboard over HTTPS (HTTP/2) in headless Chromium, in `tabs`
// tabs of one origin with a plain EventSource each, plus one more tab with
// `per_page` EventSources, all on the same streams, and records every event
// until each EventSource has had each stream's `done` event (or the time
// limit passes). Chromium trusts the edge's certificate by its key
// (--ignore-certificate-errors-spki-list), nothing else.
//
//   node h2_tabs_page.mjs --origin=https://127.0.0.1:8443 --spki=BASE64 \
//       --streams=a,b --tabs=8 --per_page=10 --out=events.txt --ready_file=ready.json
//
// The ready file ({"connected": N}) is written once every EventSource is
// open. The output has one line per event, "<type> <source> <stream> <n>",
// then "opens <source> <count>" per EventSource and "protocol <name>" (what
// the page's navigation used: h2 expected). Exit status: 0 when every
// EventSource finished, 1 on timeout or error.
import { writeFileSync } from 'node:fs';
import { launchChromium, parseArgs } from './browser.mjs';

const args = parseArgs(['origin', 'spki', 'streams', 'out', 'ready_file']);
const streams = args.streams.split(',');
const tabs = Number(args.tabs ?? 8);
const perPage = Number(args.per_page ?? 10);
const timeoutMs = Number(args.timeout_ms ?? 120000);

const browser = await launchChromium([`--ignore-certificate-errors-spki-list=${args.spki}`]);
let status = 1;
try {
  const context = await browser.newContext();
  // Every tab of the origin, then the one with many EventSources.
  const plan = [...Array(tabs).fill(1), perPage];
  const pages = [];
  let protocol = '?';
  for (const [index, count] of plan.entries()) {
    const page = await context.newPage();
    page.on('console', (m) => console.log(`tab ${index} console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => console.log(`tab ${index} page error: ${e.message}`));
    const response = await page.goto(`${args.origin}/`);
    if (index === 0) {
      protocol = await page.evaluate(
        () => performance.getEntriesByType('navigation')[0]?.nextHopProtocol ?? '?',
      );
    }
    if (!response.ok()) throw new Error(`tab ${index}: the dashboard answered ${response.status()}`);
    await page.evaluate(
      ({ streams, index, count }) => {
        const state = { events: [], opens: {}, done: {} };
        window.herald = state;
        const query = streams.map((s) => `stream=${encodeURIComponent(s)}`).join('&');
        for (let i = 0; i < count; i++) {
          const name = `${index}.${i}`;
          state.opens[name] = 0;
          state.done[name] = new Set();
          const source = new EventSource(`/v1/events?${query}`);
          source.onopen = () => state.opens[name]++;
          const record = (type) => (e) => {
            let payload = {};
            try {
              payload = JSON.parse(e.data);
            } catch {
              payload = { s: '?', n: -1 };
            }
            state.events.push(`${type} ${name} ${payload.s} ${payload.n}`);
            if (type === 'done') state.done[name].add(payload.s);
          };
          source.addEventListener('tick', record('tick'));
          source.addEventListener('done', record('done'));
          source.addEventListener('herald.reset', record('herald.reset'));
        }
      },
      { streams, index, count },
    );
    pages.push(page);
  }
  for (const page of pages) {
    await page.waitForFunction(
      () => Object.values(window.herald.opens).every((n) => n > 0),
      null,
      { timeout: 30000 },
    );
  }
  const total = plan.reduce((a, b) => a + b, 0);
  writeFileSync(args.ready_file, `{"connected": ${total}}\n`);
  console.log(`${total} EventSources open in ${pages.length} tabs over ${protocol}`);
  try {
    for (const page of pages) {
      await page.waitForFunction(
        (n) => Object.values(window.herald.done).every((d) => d.size === n),
        streams.length,
        { timeout: timeoutMs, polling: 200 },
      );
    }
    status = 0;
  } catch (e) {
    console.log(`not every EventSource finished: ${e.message}`);
  }
  const lines = [`protocol ${protocol}`];
  for (const page of pages) {
    const result = await page.evaluate(() => ({
      events: window.herald.events,
      opens: window.herald.opens,
    }));
    lines.push(...result.events);
    for (const [name, n] of Object.entries(result.opens)) lines.push(`opens ${name} ${n}`);
  }
  writeFileSync(args.out, lines.join('\n') + '\n');
} catch (e) {
  console.log(`error: ${e.stack ?? e}`);
} finally {
  await browser.close();
}
process.exit(status);
