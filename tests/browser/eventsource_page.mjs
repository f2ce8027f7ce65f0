// Opens a page on the edge in headless Chromium with a plain EventSource on
// the given streams, and records every event it receives until each stream
// has delivered its `done` event (or the time limit passes).
//
//   node eventsource_page.mjs --origin=http://127.0.0.1:8080 --streams=a,b \
//       --out=events.txt --ready_file=ready.json [--timeout_ms=120000]
//
// The ready file ({"connected": 1}) is written once the EventSource is open.
// The output has one line per event, "<type> <stream> <n> <lastEventId>", then
// "opens <count>" (how many times the EventSource (re)connected by itself).
// Exit status: 0 when every stream finished, 1 on timeout or error.
import { writeFileSync } from 'node:fs';
import { launchChromium, parseArgs } from './browser.mjs';

const args = parseArgs(['origin', 'streams', 'out', 'ready_file']);
const streams = args.streams.split(',');
const timeoutMs = Number(args.timeout_ms ?? 120000);

const browser = await launchChromium();
let status = 1;
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.log(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  // Any page of the edge's origin will do: the EventSource is same-origin.
  await page.goto(`${args.origin}/healthz`);
  await page.evaluate((streams) => {
    const state = { events: [], opens: 0, done: new Set() };
    window.herald = state;
    const query = streams.map((s) => `stream=${encodeURIComponent(s)}`).join('&');
    const source = new EventSource(`/v1/events?${query}`);
    source.onopen = () => state.opens++;
    const record = (type) => (e) => {
      let payload = {};
      try {
        payload = JSON.parse(e.data);
      } catch {
        payload = { s: '?', n: -1 };
      }
      state.events.push(`${type} ${payload.s} ${payload.n} ${e.lastEventId}`);
      if (type === 'done') state.done.add(payload.s);
    };
    source.addEventListener('tick', record('tick'));
    source.addEventListener('done', record('done'));
    source.addEventListener('herald.reset', record('herald.reset'));
    source.onmessage = record('message');
  }, streams);
  await page.waitForFunction(() => window.herald.opens > 0, null, { timeout: 30000 });
  writeFileSync(args.ready_file, '{"connected": 1}\n');
  console.log('EventSource open');
  try {
    await page.waitForFunction((n) => window.herald.done.size === n, streams.length, {
      timeout: timeoutMs,
      polling: 100,
    });
    status = 0;
  } catch (e) {
    console.log(`not every stream finished: ${e.message}`);
  }
  const result = await page.evaluate(() => ({
    events: window.herald.events,
    opens: window.herald.opens,
  }));
  writeFileSync(args.out, [...result.events, `opens ${result.opens}`].join('\n') + '\n');
  console.log(`${result.events.length} events, ${result.opens} opens`);
} catch (e) {
  console.log(`error: ${e.stack ?? e}`);
} finally {
  await browser.close();
}
process.exit(status);
