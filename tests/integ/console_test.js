// Drives the admin console in headless Chromium (playwright-core): logs in with TOTP, checks the
// status panel, creates an account, sees it listed and its audit entry, saves a screenshot.
// Usage: node console_test.js BASE_URL ADMIN PASSWORD TOTP NEW_JID NEW_PASSWORD SCREENSHOT
'use strict';

const { chromium } = require('playwright-core');

async function main() {
  const [base, admin, password, totp, jid, jidPassword, shot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.WB_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.on('pageerror', (e) => errors.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
    await page.goto(base + '/');
    await page.fill('#login-user', admin);
    await page.fill('#login-pass', password);
    await page.fill('#login-totp', totp);
    await page.click('#login-btn');
    await page.waitForSelector('#app-view:not([hidden])', { timeout: 10000 });
    await page.waitForFunction(() => document.getElementById('st-uptime').textContent !== '-');
    const status = {
      uptime: await page.textContent('#st-uptime'),
      sessions: await page.textContent('#st-sessions'),
      storage: await page.textContent('#st-storage'),
      certificates: await page.textContent('#st-certs'),
      who: await page.textContent('#who'),
    };
    await page.fill('#acct-jid', jid);
    await page.fill('#acct-pass', jidPassword);
    await page.click('#acct-create');
    await page.waitForSelector(`#acct-table tr[data-jid="${jid}"]`, { timeout: 10000 });
    const row = `#audit-table tr[data-action="account.create"][data-target="${jid}"]`;
    const deadline = Date.now() + 10000;
    while (!(await page.$(row))) {
      if (Date.now() > deadline) throw new Error('no audit entry for the new account');
      await page.click('#audit-refresh');
      await page.waitForTimeout(200);
    }
    await page.screenshot({ path: shot, fullPage: true });
    console.log(JSON.stringify({ ok: errors.length === 0, errors, status }));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, errors: [String(e && e.message || e)] }));
  process.exit(1);
});
