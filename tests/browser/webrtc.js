// webrtc.js - headless Chromium (Debian's) runs one WebRTC test page of
// tests/tools/webbridge.py (guest.html or bridge.html) and prints its result.
//   node webrtc.js URL [TIMEOUT_MS] [EXTRA_CHROMIUM_ARGS...]
// Waits up to TIMEOUT_MS (default 60000) for the page's window.__result,
// prints "RESULT <json>" (the page's result plus launch_ms and result_ms) and
// exits 0 when result.ok, 1 otherwise (2 if Chromium did not start). With no
// result in time, the RESULT says ok:false and the page's window.__stage.
// Chromium runs with a fresh profile that is deleted afterwards, with fake
// media devices (a beeping microphone, no permission prompt).
// Environment:
//   CHROMIUM=PATH  the browser (default /usr/bin/chromium)
//   VERBOSE=1      the page's console and errors on stderr, prefixed "[page] "
//   HOLD=1         after the first RESULT, keep the page (and its peer
//                  connections and TURN allocations) open until SIGTERM or
//                  SIGINT, printing one more "RESULT <json>" line for each
//                  further entry of window.__results (bridge.html: one per
//                  guest); then "held" and the exit status of the first result.
// SIGTERM or SIGINT before the result ends the wait at once (RESULT ok:false,
// "stopped by a signal"); a second signal exits without cleaning up.
// Before closing, the driver calls the page's window.__shutdown() so the
// peer connections close and free their TURN allocations.
const { chromium } = require('playwright-core');
const fs = require('fs'), os = require('os'), path = require('path');

const out = (r) => console.log('RESULT ' + JSON.stringify(r));
const sleep = (t) => new Promise((res) => setTimeout(res, t));

(async () => {
  const args = process.argv.slice(2);
  const url = args.shift();
  const timeout = /^\d+$/.test(args[0] || '') ? +args.shift() : 60000;
  const verbose = !!process.env.VERBOSE, hold = !!process.env.HOLD;
  let stop = false, wake = null, stopped;
  const signalled = new Promise((res) => { stopped = res; });
  const onSignal = () => {
    if (stop) process.exit(1);   // a second signal: no orderly shutdown
    stop = true;
    stopped();
    if (wake) wake();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cw-chromium-'));
  const t0 = Date.now();
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, timeout: 60000,
      // Our own handlers close the page's connections first (window.__shutdown).
      handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
             '--use-fake-ui-for-media-stream', ...args],
    });
  } catch (e) {
    out({ ok: false, error: 'driver: Chromium did not start: ' + e.message.split('\n')[0] });
    fs.rmSync(profile, { recursive: true, force: true });
    process.exit(2);
  }
  const launchMs = Date.now() - t0;
  const page = ctx.pages()[0] || await ctx.newPage();
  let closed = false;
  page.on('close', () => { closed = true; if (wake) wake(); });
  if (verbose) {
    page.on('console', (m) => console.error('[page] ' + m.text()));
    page.on('pageerror', (e) => console.error('[page] error: ' + e.message));
  }

  let r, fromPage = false;
  const t1 = Date.now();
  try {
    // A signal ends the wait at once (the test stops a bridge that got no guest).
    const bySignal = signalled.then(() => { throw new Error('signal'); });
    bySignal.catch(() => {});   // handled here: a signal in HOLD comes after the race
    await Promise.race([page.goto(url, { timeout: Math.min(timeout, 30000) }), bySignal]);
    await Promise.race([page.waitForFunction(() => window.__result, null,
                                             { timeout: Math.max(1, timeout - (Date.now() - t1)), polling: 100 }), bySignal]);
    r = await page.evaluate(() => window.__result);
    fromPage = true;
  } catch (e) {
    let stage = null;
    try { stage = await page.evaluate(() => window.__stage); } catch (e2) { /* page gone */ }
    r = { ok: false, error: stop ? `driver: stopped by a signal before a result (page stage: ${stage})`
                            : stage === null ? 'driver: ' + e.message.split('\n')[0]
                            : `driver: no result within ${timeout} ms (page stage: ${stage})` };
  }
  Object.assign(r, { launch_ms: launchMs, result_ms: Date.now() - t1 });
  out(r);

  if (hold && !stop) {
    let printed = fromPage ? 1 : 0;
    while (!stop && !closed) {
      try {
        const more = await page.evaluate((k) => (window.__results || []).slice(k), printed);
        for (const x of more) { out(x); printed++; }
      } catch (e) { break; }
      await new Promise((res) => { wake = res; setTimeout(res, 500); });
    }
    console.log('held');
  }
  try { await page.evaluate(() => window.__shutdown && window.__shutdown()); await sleep(300); } catch (e) { /* page gone */ }
  await ctx.close().catch(() => {});
  fs.rmSync(profile, { recursive: true, force: true });
  process.exit(r.ok ? 0 : 1);
})();
