// admin.js - headless Chromium (Debian's), with JavaScript off, signs in to
// the admin interface through its form and looks at the status page.
//   node admin.js BASE_URL USER PASSWORD SCREENSHOT EXPECT,EXPECT... [CHROMIUM_ARGS...]
// Prints one line per step and exits 0 when the sign-in lands on the status
// page and its text holds every EXPECT; the page is saved as a full-page
// PNG at SCREENSHOT either way. Chromium runs with a fresh profile that is
// deleted afterwards.
const { chromium } = require('playwright-core');
const fs = require('fs'), os = require('os'), path = require('path');

(async () => {
  const [base, user, password, shot, expect, ...extra] = process.argv.slice(2);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cw-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, timeout: 60000,
    javaScriptEnabled: false, viewport: { width: 1200, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', ...extra],
  });
  let ok = false;
  const page = ctx.pages()[0] || await ctx.newPage();
  try {
    const first = await page.goto(base + '/', { timeout: 30000 });
    console.log(`first page: ${page.url()} (${first.status()})`);
    await page.fill('#user', user);
    await page.fill('#password', password);
    await Promise.all([page.waitForNavigation({ timeout: 30000 }), page.click('button[type=submit]')]);
    const text = await page.innerText('body');
    const missing = expect.split(',').filter((e) => !text.includes(e));
    console.log(`after sign-in: ${page.url()}; missing: ${missing.join(',') || 'none'}`);
    const badges = await page.locator('.badge').count();
    console.log(`badges: ${badges}`);
    ok = page.url() === base + '/' && missing.length === 0 && badges > 0;
  } catch (e) {
    console.log('failed: ' + e.message.split('\n')[0]);
  }
  try {
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot ${shot}`);
  } catch (e) {
    console.log('no screenshot: ' + e.message.split('\n')[0]);
  }
  await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
  process.exit(ok ? 0 : 1);
})();
