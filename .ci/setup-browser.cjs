// Drives the setup page in headless Chromium as a person would (tests/setup_browser.rs): opens
// the server's `/`, types the setup code and an organization, presses Continue, then the
// Register button, which posts the manifest to (fake) GitHub; GitHub sends the browser back to
// `/setup`, which must say the server is configured. Arguments: server URL, setup code,
// organization. Prints the final page's URL and text; exits 1 when it does not land configured.
'use strict';
const { chromium } = require('playwright-core');

(async () => {
  const [url, code, organization] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${url}/`);
    await page.fill('#setup_code', code);
    await page.fill('#organization', organization);
    await Promise.all([page.waitForNavigation(), page.click('#continue')]);
    await Promise.all([page.waitForURL(/\/setup\?/), page.click('#register')]);
    const configured = await page.locator('#configured').count();
    console.log(page.url());
    console.log(await page.locator('body').innerText());
    process.exit(configured === 1 ? 0 : 1);
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
