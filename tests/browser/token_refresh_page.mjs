// Opens a page on the edge in headless Chromium that follows one stream with
// herald.js, authenticated by short-lived tokens: `refreshToken` mints a new
// one (HS256, signed here with the edge's secret) each time the edge ends the
// stream with herald.auth. Records the `tick` events until `done` arrives.
//
//   node token_refresh_page.mjs --origin=http://127.0.0.1:8080 --stream=auth/s \
//       --secret_file=secret --token_seconds=5 --out=result.json \
//       --open_file=open.json [--timeout_ms=90000]
//
// The open file ({"open": 1}) is written once the stream is open. The result
// is JSON: {"received", "exact" (every n from 0, once, in order), "refreshes",
// "state", "consoleErrors"}. Exit status: 0 once `done` arrived, 1 otherwise.
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { launchChromium, parseArgs } from './browser.mjs';

const args = parseArgs(['origin', 'stream', 'secret_file', 'out', 'open_file']);
const secret = readFileSync(args.secret_file);
const tokenSeconds = Number(args.token_seconds ?? 5);
const timeoutMs = Number(args.timeout_ms ?? 90000);

const base64url = (data) => Buffer.from(data).toString('base64url');
let minted = 0;
function mintToken() {
  minted += 1;
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const claims = base64url(JSON.stringify({
    sub: 'refresh-test',
    exp: Math.floor(Date.now() / 1000) + tokenSeconds,
    subscribe: [args.stream],
  }));
  const signature = createHmac('sha256', secret).update(`${header}.${claims}`).digest('base64url');
  return `${header}.${claims}.${signature}`;
}

const browser = await launchChromium();
const consoleErrors = [];
let status = 1;
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    console.log(`console.${m.type()}: ${m.text()}`);
    // The page asks for /favicon.ico, which the edge does not serve without a dashboard.
    if (m.type() === 'error' && !m.location()?.url?.endsWith('/favicon.ico')) {
      consoleErrors.push(m.text());
    }
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  await page.exposeFunction('mintToken', mintToken);
  // Any page of the edge's origin will do: the cookie and the stream are same-origin.
  await page.goto(`${args.origin}/healthz`);
  await page.evaluate(async (stream) => {
    const { HeraldClient } = await import('/herald.js');
    const state = { received: [], done: false, status: {} };
    window.test = state;
    const herald = new HeraldClient({ refreshToken: () => window.mintToken() });
    herald.setToken(await window.mintToken());
    herald.subscribe([stream], {
      on: {
        tick: (data) => state.received.push(data.n),
        done: () => { state.done = true; },
      },
      onStatus: (s) => { state.status = s; },
    });
  }, args.stream);
  await page.waitForFunction(() => window.test.status.opens > 0, null, { timeout: 30000 });
  writeFileSync(args.open_file, '{"open": 1}\n');
  await page.waitForFunction(() => window.test.done, null, { timeout: timeoutMs }).catch(() => {});
  const state = await page.evaluate(() => window.test);
  const exact = state.received.every((n, i) => n === i);
  writeFileSync(args.out, `${JSON.stringify({
    received: state.received.length,
    exact,
    refreshes: state.status.refreshes,
    reconnects: state.status.reconnects,
    state: state.status.state,
    tokensMinted: minted,
    consoleErrors,
  }, null, 1)}\n`);
  status = state.done ? 0 : 1;
} catch (e) {
  console.error(e);
  writeFileSync(args.out, `${JSON.stringify({ error: String(e), consoleErrors })}\n`);
} finally {
  await browser.close();
}
process.exit(status);
