// What every browser test page shares: its command-line arguments and
// Debian's Chromium, headless, started with the flags this sandbox needs
// (no network of its own, no downloads, no sandbox as root).
import { chromium } from 'playwright-core';

/** --key=value arguments as an object; exits with status 2 if one of `required` is missing. */
export function parseArgs(required) {
  const args = Object.fromEntries(
    process.argv.slice(2).map((a) => {
      const [k, ...v] = a.replace(/^--/, '').split('=');
      return [k, v.join('=')];
    }),
  );
  for (const name of required) {
    if (!args[name]) {
      console.error(`missing --${name}`);
      process.exit(2);
    }
  }
  return args;
}

/** Chromium, with `extraArgs` after the ones every test needs. */
export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extraArgs,
    ],
  });
}
