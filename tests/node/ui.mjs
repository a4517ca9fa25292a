// Drives Debian's Chromium (through playwright-core) around Firebell's web
// UI, against a real `firebell serve` that the Rust test
// crates/firebell/tests/cli/ui.rs started. One scenario per run:
//
//   node ui.mjs SCENARIO
//
// Environment: FIREBELL_URL (the server), FIREBELL_ADMIN (its admin token,
// for checking through the API), FIREBELL_KEY (a generic integration key),
// CHROMIUM (the browser binary), SCREENSHOT_DIR (optional: where the
// screens scenario writes its pictures). Every user's password is
// "password-of-<id>". A failed check throws; the exit code tells the test.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import path from 'node:path';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const BASE = process.env.FIREBELL_URL;
const ADMIN = process.env.FIREBELL_ADMIN;
const KEY = process.env.FIREBELL_KEY;
const SHOTS = process.env.SCREENSHOT_DIR;

async function api(method, p, body) {
  const r = await fetch(BASE + p, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${p}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Triggers an alert through the generic integration; returns its id. */
async function trigger(dedup, summary, extra = {}) {
  const r = await fetch(BASE + '/api/v1/events', {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'trigger', dedup_key: dedup, summary, severity: 'critical', ...extra }),
  });
  const v = await r.json();
  assert.equal(r.status, 202, JSON.stringify(v));
  return v.alerts[0].id;
}

async function signIn(page, user) {
  await page.goto(BASE + '/');
  assert.match(new URL(page.url()).pathname, /^\/login/, 'signed out, / leads to the sign-in page');
  await page.fill('#user', user);
  await page.fill('#password', `password-of-${user}`);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('button[type=submit]')]);
}

/** The session's CSRF token, from a form on the page. */
async function csrfOf(page) {
  return page.locator('input[name=csrf]').first().getAttribute('value');
}

/** Every problem axe finds on the page that is serious or critical. */
async function axeProblems(page, label) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return result
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${label}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(' | ')}`);
}

const scenarios = {
  // Sign in with the right password; a wrong one is refused; sign out.
  async sign_in(browser) {
    const page = await browser.newPage();
    await page.goto(BASE + '/alerts');
    assert.match(new URL(page.url()).pathname, /^\/login/);
    await page.fill('#user', 'alice');
    await page.fill('#password', 'not-her-password');
    const [resp] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert.equal(resp.status(), 401);
    assert.match(await page.textContent('p.error'), /Wrong user or password/);
    assert.match(new URL(page.url()).pathname, /^\/login/);
    await page.fill('#password', 'password-of-alice');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert.equal(new URL(page.url()).pathname, '/alerts');
    assert.match(await page.textContent('header .me'), /Alice Archer/);
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'firebell_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    await Promise.all([page.waitForNavigation(), page.click('text=Sign out')]);
    assert.match(new URL(page.url()).pathname, /^\/login/);
    await page.goto(BASE + '/alerts');
    assert.match(new URL(page.url()).pathname, /^\/login/, 'signed out for good');
  },

  // A new alert and a status change appear in the open list without a reload.
  async live_list(browser) {
    const page = await browser.newPage();
    await signIn(page, 'alice');
    await page.evaluate(() => { window.__sameDocument = true; });
    const id = await trigger('live-1', 'Queue backlog on worker3');
    await page.locator(`tr[data-id="${id}"]`).waitFor({ timeout: 15000 });
    assert.match(await page.textContent(`tr[data-id="${id}"]`), /Queue backlog on worker3/);
    await api('POST', `/api/v1/alerts/${id}/acknowledge`, {});
    await page.locator(`tr[data-id="${id}"] .st-acknowledged`).waitFor({ timeout: 15000 });
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
  },

  // Acknowledge from the alert page: the timeline names the person; the
  // Rust side checks that the webhook gets no more pages.
  async acknowledge(browser) {
    const page = await browser.newPage();
    await signIn(page, 'alice');
    const id = await trigger('ack-1', 'Checkout latency high');
    await page.goto(`${BASE}/alerts/${id}`);
    await page.locator('ul.pages li').first().waitFor({ timeout: 15000 }).catch(() => {});
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Acknowledge")')]);
    assert.match(await page.textContent('p.flash'), /You acknowledged this alert/);
    assert.match(await page.textContent('table.timeline'), /acknowledged by alice/);
    const v = await api('GET', `/api/v1/alerts/${id}`);
    assert.equal(v.alert.status, 'acknowledged');
    console.log(JSON.stringify({ acknowledged: id }));
  },

  // An observer sees no answer buttons, and a forged POST (with their own
  // valid session and token) is refused and changes nothing.
  async observer(browser) {
    const id = await trigger('obs-1', 'Observer must not ack this');
    const page = await browser.newPage();
    await signIn(page, 'olga');
    await page.goto(`${BASE}/alerts/${id}`);
    assert.equal(await page.locator('button:has-text("Acknowledge")').count(), 0);
    assert.equal(await page.locator('button:has-text("Resolve")').count(), 0);
    const csrf = await csrfOf(page);
    const r = await page.request.post(`${BASE}/alerts/${id}/acknowledge`, { form: { csrf }, maxRedirects: 0 });
    assert.equal(r.status(), 403);
    const s = await page.request.post(`${BASE}/schedules/ops/overrides`, { form: { csrf, kind: 'add', to: 'olga', start: '2026-01-01T00:00', end: '2030-01-01T00:00' }, maxRedirects: 0 });
    assert.equal(s.status(), 403);
    const v = await api('GET', `/api/v1/alerts/${id}`);
    assert.equal(v.alert.status, 'triggered');
  },

  // A form posted without the session's CSRF token, or with another, is refused.
  async csrf(browser) {
    const id = await trigger('csrf-1', 'CSRF target');
    const page = await browser.newPage();
    await signIn(page, 'alice');
    for (const form of [{}, { csrf: 'forged-token' }]) {
      const r = await page.request.post(`${BASE}/alerts/${id}/acknowledge`, { form, maxRedirects: 0 });
      assert.equal(r.status(), 403, JSON.stringify(form));
      assert.match(await r.text(), /security token/);
    }
    const v = await api('GET', `/api/v1/alerts/${id}`);
    assert.equal(v.alert.status, 'triggered');
  },

  // An override made on the schedule page: the API's on-call agrees.
  async override(browser) {
    const before = await api('GET', '/api/v1/oncall');
    const ops = before.oncall.find((o) => o.schedule === 'ops');
    assert.deepEqual(ops.users, ['bob'], 'bob is on call in ops before');
    const page = await browser.newPage();
    await signIn(page, 'alice');
    await page.goto(`${BASE}/schedules/ops`);
    await page.selectOption('#o-kind', 'replace');
    await page.selectOption('#o-to', 'alice');
    await page.selectOption('#o-from', 'bob');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Create override")')]);
    assert.match(await page.textContent('p.flash'), /Override created/);
    assert.match(await page.textContent('main'), /alice replaces bob/);
    const after = await api('GET', '/api/v1/oncall');
    assert.deepEqual(after.oncall.find((o) => o.schedule === 'ops').users, ['alice']);
    assert.ok((await page.locator('svg.rotation rect.override').count()) > 0, 'the override is marked in the drawing');
  },

  // Create a silence (after seeing what it hits), then expire it.
  async silence(browser) {
    const id = await trigger('sil-1', 'Disk full on db9', { labels: { alertname: 'DiskFull', host: 'db9' } });
    await trigger('sil-2', 'Unrelated', { labels: { alertname: 'Other' } });
    const page = await browser.newPage();
    await signIn(page, 'alice');
    await page.goto(`${BASE}/silences`);
    await page.fill('#s-matchers', 'alertname="DiskFull"\nhost=~"db.*"');
    await page.fill('#s-duration', '2h');
    await page.fill('#s-comment', 'replacing the disk');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Show matching alerts")')]);
    const preview = await page.textContent('section.preview');
    assert.match(preview, /hit 1 open alert/);
    assert.match(preview, new RegExp(`#${id} Disk full on db9`));
    assert.doesNotMatch(preview, /Unrelated/);
    assert.equal((await api('GET', '/api/v1/silences')).silences.length, 0, 'a preview saves nothing');
    assert.equal(await page.inputValue('#s-comment'), 'replacing the disk', 'the form keeps what was typed');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Create silence")')]);
    assert.match(await page.textContent('p.flash'), /Silence created/);
    let list = (await api('GET', '/api/v1/silences')).silences;
    assert.equal(list.length, 1);
    assert.equal(list[0].state, 'active');
    assert.equal(list[0].created_by, 'alice');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Expire")')]);
    assert.match(await page.textContent('p.flash'), /Silence expired/);
    list = (await api('GET', '/api/v1/silences')).silences;
    assert.equal(list[0].state, 'expired');
  },

  // With JavaScript off every form still works: sign in, acknowledge,
  // resolve many at once, create an override, create a silence.
  async no_js(browser) {
    const a = await trigger('nojs-1', 'No JS one');
    const b = await trigger('nojs-2', 'No JS two');
    const ctx = await browser.newContext({ javaScriptEnabled: false });
    const page = await ctx.newPage();
    await signIn(page, 'alice');
    await page.goto(`${BASE}/alerts/${a}`);
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Acknowledge")')]);
    assert.match(await page.textContent('p.flash'), /acknowledged/);
    await page.goto(`${BASE}/alerts`);
    await page.check(`input[name=id][value="${a}"]`);
    await page.check(`input[name=id][value="${b}"]`);
    await Promise.all([page.waitForNavigation(), page.click('form#bulk button[value=resolve]')]);
    assert.match(await page.textContent('p.flash'), /Resolved 2 alerts/);
    for (const id of [a, b]) {
      assert.equal((await api('GET', `/api/v1/alerts/${id}`)).alert.status, 'resolved');
    }
    await page.goto(`${BASE}/alerts?status=resolved&q=no+js`);
    assert.equal(await page.locator('tr[data-id]').count(), 2, 'filters work as a plain GET form');
    await page.goto(`${BASE}/schedules/ops`);
    await page.selectOption('#o-kind', 'add');
    await page.selectOption('#o-to', 'alice');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Create override")')]);
    assert.match(await page.textContent('p.flash'), /Override created/);
    await page.goto(`${BASE}/silences`);
    await page.fill('#s-matchers', 'alertname="NoJs"');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Create silence")')]);
    assert.match(await page.textContent('p.error'), /comment: is required/, 'a missing field is named');
    assert.equal(await page.inputValue('#s-matchers'), 'alertname="NoJs"', 'and what was typed is kept');
    await page.fill('#s-comment', 'testing without JavaScript');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Create silence")')]);
    assert.match(await page.textContent('p.flash'), /Silence created/);
    await ctx.close();
  },

  // Text people send is shown as text: a <script> in a summary, a label
  // and a detail runs nothing and appears literally.
  async escaping(browser) {
    const evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
    const id = await trigger('xss-1', `Boom ${evil}`, { labels: { [`x${'"'}`]: evil, alertname: 'Xss' }, details: { note: evil } });
    const page = await browser.newPage();
    const dialogs = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
    await signIn(page, 'alice');
    for (const p of ['/alerts', `/alerts/${id}`, '/alerts?q=boom']) {
      await page.goto(BASE + p);
      await page.waitForTimeout(300);
      assert.equal(await page.evaluate(() => window.__pwned), undefined, `${p}: injected script ran`);
      assert.equal(await page.locator('main img').count(), 0, `${p}: an injected element exists`);
      assert.ok((await page.textContent('main')).includes('<script>window.__pwned = 1</script>'), `${p}: the text is shown as typed`);
    }
    assert.deepEqual(dialogs, []);
  },

  // axe-core on every page (no serious or critical violation), at phone
  // and laptop widths; and, with SCREENSHOT_DIR, the pictures for docs/.
  async screens(browser) {
    const id = await trigger('disk-web1', 'Disk full on web1: /var at 100%', {
      labels: { alertname: 'DiskFull', host: 'web1', mount: '/var' },
      details: { runbook: 'https://runbooks.example.com/disk-full', df: '/dev/sda1 100% /var' },
    });
    await trigger('cpu-db2', 'CPU above 95% on db2 for 10 minutes', { severity: 'warning', labels: { alertname: 'CpuHot', host: 'db2' } });
    await trigger('cert-api', 'TLS certificate for api.example.com expires in 6 days', { severity: 'info' });
    // Let the escalation page a few times before the pictures.
    await new Promise((r) => setTimeout(r, 5000));
    const problems = [];
    for (const width of [1280, 390]) {
      // bypassCSP: axe is injected as an inline script, which the pages' policy forbids.
      const ctx = await browser.newContext({ viewport: { width, height: width > 600 ? 900 : 844 }, deviceScaleFactor: 1, bypassCSP: true });
      const page = await ctx.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto(`${BASE}/login`);
      problems.push(...await axeProblems(page, `/login @${width}`));
      await signIn(page, 'adam');
      const pages = ['/alerts', `/alerts/${id}`, '/oncall', '/schedules/ops', '/schedules/ops?view=month', '/policies', '/services', '/services/checkout', '/silences', '/people', '/people/alice', '/status', '/profile'];
      for (const p of pages) {
        const resp = await page.goto(BASE + p);
        assert.equal(resp.status(), 200, p);
        problems.push(...await axeProblems(page, `${p} @${width}`));
      }
      // The test-page result and an error page are pages too.
      await page.goto(`${BASE}/people/adam`);
      await Promise.all([page.waitForNavigation(), page.click('button:has-text("Send a test page")')]);
      assert.match(await page.textContent('main'), /delivered/);
      problems.push(...await axeProblems(page, `test page result @${width}`));
      const seen = errors.length;
      const missing = await page.goto(`${BASE}/alerts/999999`);
      assert.equal(missing.status(), 404);
      problems.push(...await axeProblems(page, `not found @${width}`));
      errors.splice(seen); // the 404 itself is logged by the browser
      await page.goto(`${BASE}/status`);
      assert.match(await page.textContent('main'), /console\s*\d+ s ago/, 'the status page shows the test page went out');
      if (SHOTS) {
        for (const [name, p] of [['alerts', '/alerts'], ['alert', `/alerts/${id}`], ['schedule', '/schedules/ops']]) {
          await page.goto(BASE + p);
          await page.screenshot({ path: path.join(SHOTS, `ui-${name}-${width}.png`), fullPage: width > 600 });
        }
      }
      problems.push(...errors.map((e) => `console at ${width}: ${e}`));
      await ctx.close();
    }
    assert.deepEqual(problems, [], 'accessibility problems and console errors');
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`no scenario ${name}; scenarios: ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
try {
  await scenarios[name](browser);
  console.log(`scenario ${name}: ok`);
} finally {
  await browser.close();
}
