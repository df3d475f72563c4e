// load.js - headless Chromium (Debian's) loads one page, as a guest's browser would.
//   node load.js URL EXPECT [EXTRA_CHROMIUM_ARGS...]
// Prints "loaded STATUS: <first line of the page>" and exits 0 when the page
// answered 200 and its text contains EXPECT; 1 otherwise. Chromium runs
// with a fresh profile that is deleted afterwards.
const { chromium } = require('playwright-core');
const fs = require('fs'), os = require('os'), path = require('path');

(async () => {
  const [url, expect, ...extra] = process.argv.slice(2);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cw-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, timeout: 60000,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', ...extra],
  });
  let ok = false;
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    const resp = await page.goto(url, { timeout: 30000 });
    const text = await page.innerText('body');
    console.log(`loaded ${resp.status()}: ${text.split('\n')[0]}`);
    ok = resp.status() === 200 && text.includes(expect);
  } catch (e) {
    console.log('failed: ' + e.message.split('\n')[0]);
  }
  await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
  process.exit(ok ? 0 : 1);
})();
