// Loads the dashboard served by the edge in headless Chromium, waits for its
// charts to advance, places an order through the form, waits for the order
// to arrive on its stream, saves a screenshot, and reports what it saw.
//
//   node dashboard_page.mjs --url=http://127.0.0.1:8080/ --screenshot=dash.png \
//       --out=result.json [--restart_file=restart.json] [--timeout_ms=90000]
//
// With --restart_file, once the order is back the script writes that file and
// waits for the page to reconnect by itself (the test restarts the edge) and
// for the charts to carry on.
//
// result.json: {"ticksBefore", "ticksAfter", "statsBefore", "statsAfter",
// "placed": [...], "arrived": [...], "resultText", "status": {...},
// "consoleErrors": [...], "svgOrCanvas": n}. Exit status 0 when the page
// got that far, 1 on timeout (the result is written either way).
import { writeFileSync } from 'node:fs';
import { launchChromium, parseArgs } from './browser.mjs';

const args = parseArgs(['url', 'screenshot', 'out']);
const timeoutMs = Number(args.timeout_ms ?? 90000);

const browser = await launchChromium();
const result = { consoleErrors: [], restartErrors: [] };
// Once the edge is killed on purpose, Chromium logs the cut stream and the
// refused reconnects as resource errors: expected then, and kept apart.
let restarting = false;
const expectedWhileRestarting = /ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE/;
let status = 1;
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(timeoutMs);
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (restarting && expectedWhileRestarting.test(m.text())) result.restartErrors.push(m.text());
    else result.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => result.consoleErrors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // The EventSource's request ends when the page closes; anything else is an error.
    if (!r.url().includes('/v1/events')) result.consoleErrors.push(`request failed: ${r.url()}`);
  });
  await page.goto(args.url);
  const read = () => page.evaluate(() => ({ ...window.heraldDashboard }));
  // The charts have data, and it keeps coming.
  await page.waitForFunction(() => window.heraldDashboard?.ticks >= 20 &&
    window.heraldDashboard?.stats >= 2 && window.heraldDashboard?.status?.state === 'open');
  const before = await read();
  result.ticksBefore = before.ticks;
  result.statsBefore = before.stats;
  await page.waitForFunction((b) => window.heraldDashboard.ticks >= b.ticks + 20 &&
    window.heraldDashboard.stats >= b.stats + 2, before);
  // An order through the form, and its arrival on the orders stream.
  await page.selectOption('#order-symbol', { index: 1 });
  await page.fill('input[name=quantity]', '42');
  await page.fill('input[name=limitPrice]', '123.45');
  await page.click('#order-submit');
  await page.waitForFunction(() => window.heraldDashboard.arrived.length >= 1 &&
    document.querySelector('#order-result').dataset.arrived);
  if (args.restart_file) {
    const atRestart = await read();
    restarting = true;
    writeFileSync(args.restart_file, JSON.stringify({ ordered: 1 }));
    await page.waitForFunction((b) => window.heraldDashboard.status.reconnects >= 1 &&
      window.heraldDashboard.status.state === 'open' &&
      window.heraldDashboard.ticks >= b.ticks + 20, atRestart);
    result.indicator = await page.textContent('#connection');
  }
  const after = await read();
  result.ticksAfter = after.ticks;
  result.statsAfter = after.stats;
  result.placed = after.placed;
  result.arrived = after.arrived;
  result.status = after.status;
  result.resultText = await page.textContent('#order-result');
  result.firstRow = await page.textContent('#orders tr');
  result.svgOrCanvas = await page.evaluate(() => document.querySelectorAll('.uplot canvas').length);
  await page.screenshot({ path: args.screenshot, fullPage: true });
  status = 0;
} catch (error) {
  result.error = String(error);
  // What the page had when it gave up, and how it looked.
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages.length) {
      result.state = await pages[0].evaluate(() => ({ ...window.heraldDashboard }));
      await pages[0].screenshot({ path: args.screenshot, fullPage: true });
    }
  } catch (inner) {
    result.stateError = String(inner);
  }
} finally {
  writeFileSync(args.out, JSON.stringify(result, null, 2));
  await browser.close();
}
process.exit(status);
