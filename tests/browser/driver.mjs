// Drives headless Chromium for tests/browser.rs: one JSON command per line on
// stdin, one JSON answer per line on stdout ({ok, value} or {ok: false, error}).
// The test's steps and assertions live in Rust; this only does what it is told.
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // As root in CI: no sandbox. The rest keep Chromium off the network.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
const logs = [];
page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));

const ops = {
  goto: (c) => page.goto(c.url),
  viewport: (c) => page.setViewportSize({ width: c.width, height: c.height }),
  fill: (c) => page.fill(c.sel, c.text),
  click: (c) => page.click(c.sel),
  press: (c) => page.press(c.sel, c.key),
  text: (c) => page.innerText(c.sel),
  visible: (c) => page.isVisible(c.sel),
  attr: (c) => page.getAttribute(c.sel, c.name),
  // Waits until the element's text (as shown, or as written before CSS
  // changes its case) contains every one of `texts`.
  wait_text: (c) => page.waitForFunction(([sel, texts]) => {
    const e = document.querySelector(sel);
    return e && texts.every((t) => e.innerText.includes(t) || e.textContent.includes(t));
  }, [c.sel, c.texts], { timeout: c.timeout || 10000 }).then(() => page.innerText(c.sel)),
  // Waits until the element's text contains none of `texts`.
  wait_no_text: (c) => page.waitForFunction(([sel, texts]) => {
    const e = document.querySelector(sel);
    return e && !texts.some((t) => e.textContent.includes(t));
  }, [c.sel, c.texts], { timeout: c.timeout || 10000 }).then(() => true),
  wait_visible: (c) => page.waitForSelector(c.sel, { state: 'visible', timeout: c.timeout || 10000 }).then(() => true),
  screenshot: (c) => page.screenshot({ path: c.path }),
  logs: () => logs.splice(0),
  close: () => browser.close(),
};

for await (const line of readline.createInterface({ input: process.stdin })) {
  const c = JSON.parse(line);
  try {
    const value = await ops[c.op](c);
    process.stdout.write(JSON.stringify({ ok: true, value: value ?? null }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(e.message || e), logs: logs.splice(0) }) + '\n');
  }
  if (c.op === 'close') break;
}
await browser.close().catch(() => {});
