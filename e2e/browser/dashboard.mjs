// Drives Debian's chromium through the dashboard for e2e/tests/dashboard.rs.
//
// The Rust test owns the servers and sends the gateway traffic; this script owns the
// browser. They talk over stdin/stdout, one line per step:
//   script -> test: READY_LIVE | PAUSED | READY_LOGS | READY_HISTORY | CHECK ok|FAIL <name> | METRIC <name> <value> | DONE <failures>
//   test -> script: SENT <n>   | STORED <n> | SEEDED <n> (older events for the 7-day charts)
// Env: DASHBOARD_URL (…/dashboard/), DASHBOARD_CREDENTIAL, ARTIFACTS_DIR (screenshots).
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';

const base = process.env.DASHBOARD_URL;
const credential = process.env.DASHBOARD_CREDENTIAL;
const artifacts = process.env.ARTIFACTS_DIR;
const STEP_TIMEOUT = 15_000;

const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (line) => process.stdout.write(line + '\n');
async function expectLine(prefix) {
  const { value, done } = await input.next();
  if (done || !value.startsWith(prefix)) throw new Error(`expected ${prefix} from the test, got ${done ? 'EOF' : value}`);
  return value;
}
let failures = 0;
function check(name, ok, detail = '') {
  say(`CHECK ${ok ? 'ok' : 'FAIL'} ${name}${detail ? ` (${detail})` : ''}`);
  if (!ok) failures += 1;
}

const userDataDir = mkdtempSync(join(tmpdir(), 'portcullis-chromium-'));
mkdirSync(artifacts, { recursive: true });
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1360, height: 860 },
});
context.setDefaultTimeout(STEP_TIMEOUT);
const page = context.pages()[0] || (await context.newPage());
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));

const rows = (table) => page.locator(`${table} tbody tr:visible`).count();
async function waitRows(table, n) {
  await page.waitForFunction(([t, k]) => [...document.querySelectorAll(`${t} tbody tr`)].filter((r) => !r.hidden).length === k, [table, n]);
}
async function applyLogs(fields) {
  const before = await page.locator('#logs-count').getAttribute('data-loaded');
  for (const [id, value] of Object.entries(fields)) {
    const field = page.locator(id);
    if ((await field.evaluate((e) => e.tagName)) === 'SELECT') await field.selectOption(value);
    else if ((await field.getAttribute('type')) === 'checkbox') await field.setChecked(Boolean(value));
    else await field.fill(value);
  }
  await page.locator('#logs-apply').click();
  await page.waitForFunction((b) => document.querySelector('#logs-count').dataset.loaded !== b, before);
  return (await page.locator('#logs-count').textContent()).trim();
}

try {
  // --- sign-in ------------------------------------------------------------------
  await page.goto(base);
  check('unauthenticated visit lands on the login page', page.url().endsWith('/dashboard/login'), page.url());
  await page.getByLabel('Admin credential').fill('pda_wrong_credential');
  await page.getByRole('button', { name: 'Sign in' }).click();
  check('a wrong credential is refused with a visible error', await page.locator('#login-error').isVisible());
  await page.getByLabel('Admin credential').fill(credential);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/dashboard\/(#.*)?$/);
  // The refused attempt above logged its 401 on purpose; from here on any error counts.
  consoleErrors.length = 0;
  const cookie = (await context.cookies()).find((c) => c.name === 'portcullis_dashboard');
  check('sign-in sets an HttpOnly SameSite=Strict session cookie that is not the credential',
    Boolean(cookie && cookie.httpOnly && cookie.sameSite === 'Strict' && cookie.value !== credential));
  check('the credential is not rendered anywhere in the page', !(await page.content()).includes(credential));

  // --- live -----------------------------------------------------------------------
  await page.waitForSelector('#live-status[data-state="connected"]');
  check('live view connects to the event stream', true);
  say('READY_LIVE');
  await expectLine('SENT');
  const sentAt = Date.now();
  await page.waitForFunction(() => document.querySelectorAll('#live-table tbody tr').length >= 3);
  say(`METRIC live_rows_visible_after_ms ${Date.now() - sentAt}`);
  check('3 requests through the gateway appear as live rows', (await rows('#live-table')) === 3);
  const first = page.locator('#live-table tbody tr').first();
  check('newest first: the top row is the last request (research, alert)',
    (await first.getAttribute('data-project')) === 'research' && (await first.getAttribute('data-decision')) === 'alert');
  check('the alert row shows its finding', (await first.textContent()).includes('pii.email'));
  check('the blocked request shows as block',
    (await page.locator('#live-table tbody tr[data-decision="block"] .badge').textContent()) === 'block');
  await page.locator('#live-decision').selectOption('block');
  await waitRows('#live-table', 1);
  check('live decision filter narrows to the block row', (await rows('#live-table')) === 1);
  await page.locator('#live-decision').selectOption('');
  await page.locator('#live-project').selectOption('research');
  await waitRows('#live-table', 1);
  check('live project filter narrows to the research row', (await rows('#live-table')) === 1);
  await page.locator('#live-project').selectOption('');
  await waitRows('#live-table', 3);

  await page.getByRole('button', { name: 'Pause' }).click();
  say('PAUSED');
  await expectLine('SENT');
  await page.waitForFunction(() => document.querySelector('#live-status').textContent === 'Paused: 1 new');
  check('while paused a new event is held, not shown', (await rows('#live-table')) === 3);
  await page.getByRole('button', { name: 'Resume' }).click();
  await waitRows('#live-table', 4);
  check('resume shows the held event', (await rows('#live-table')) === 4);
  await page.screenshot({ path: join(artifacts, 'live.png'), animations: 'disabled' });

  // --- logs -----------------------------------------------------------------------
  say('READY_LOGS');
  await expectLine('STORED');
  await page.getByRole('link', { name: 'Logs' }).click();
  await page.waitForFunction(() => document.querySelector('#logs-count').dataset.loaded);
  let count = (await page.locator('#logs-count').textContent()).trim();
  check('logs list all 4 stored events', count === '4 events' && (await rows('#logs-table')) === 4, count);
  count = await applyLogs({ '#logs-decision': 'block' });
  check('logs decision filter narrows to 1 event', count === '1 event' && (await rows('#logs-table')) === 1, count);
  count = await applyLogs({ '#logs-decision': '', '#logs-project': 'research' });
  check('logs project filter narrows to 1 event', count === '1 event', count);
  count = await applyLogs({ '#logs-project': '', '#logs-detector': 'pii.email' });
  check('logs detector filter narrows to 1 event', count === '1 event', count);
  count = await applyLogs({ '#logs-detector': '', '#logs-session': 'sess-demo-1' });
  check('logs session filter narrows to the 3 demo turns', count === '3 events', count);
  count = await applyLogs({ '#logs-session': '', '#logs-path': '/v1/nothing-here' });
  check('logs path filter with no match shows 0 events', count === '0 events', count);
  count = await applyLogs({ '#logs-path': '', '#logs-group': true });
  check('group by session shows 2 sessions', count === '2 sessions' && (await rows('#sessions-table')) === 2, count);
  await page.locator('#sessions-table tbody tr[data-session="sess-research-1"] button').click();
  await page.waitForFunction(() => document.querySelector('#logs-count').textContent.trim() === '1 event');
  check('choosing a session lists its turns', (await rows('#logs-table')) === 1);
  await page.locator('#logs-table tbody tr').first().getByRole('button').press('Enter');
  await page.waitForSelector('#conversation');
  const detail = await page.locator('#detail').textContent();
  check('detail view shows findings, tokens and latency',
    detail.includes('pii.email') && detail.includes('Tokens') && detail.includes('Latency') && detail.includes('Upstream'));
  check('detail view renders the captured conversation, redacted',
    detail.includes('mail the report to') && !detail.includes('jane.doe@example.org'));
  await page.locator('#logs-session').fill('');
  await page.screenshot({ path: join(artifacts, 'logs.png'), fullPage: true, animations: 'disabled' });

  // --- usage ----------------------------------------------------------------------
  await page.getByRole('link', { name: 'Usage' }).click();
  await page.waitForFunction(() => document.querySelector('#usage-status').dataset.loaded);
  const kpi = async (name) => (await page.locator('#usage-kpis div', { hasText: name }).locator('dd').textContent()).trim();
  check('usage counts 4 requests, 1 blocked, 1 alerted',
    (await kpi('Requests')) === '4' && (await kpi('Blocked')) === '1' && (await kpi('Alerted')) === '1');
  check('usage draws request and token charts as SVG',
    (await page.locator('#chart-requests svg rect').count()) > 0 && (await page.locator('#chart-tokens svg polyline').count()) === 2);
  const detectors = await page.locator('#chart-detectors svg').getAttribute('aria-label');
  check('top detectors chart lists pii.email', detectors.includes('pii.email'), detectors);
  await page.locator('#usage-by').selectOption('project');
  await page.getByRole('button', { name: 'Update' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#chart-requests .legend li').length === 2);
  check('usage split by project shows both projects', (await page.locator('#chart-requests .legend').textContent()).includes('research'));
  // Seven days with synthetic history (older than the 24 hours checked above).
  say('READY_HISTORY');
  const seeded = Number((await expectLine('SEEDED')).split(' ')[1]);
  const loadedBefore = await page.locator('#usage-status').getAttribute('data-loaded');
  await page.locator('#usage-by').selectOption('model');
  await page.locator('#usage-range').selectOption('604800');
  await page.getByRole('button', { name: 'Update' }).click();
  await page.waitForFunction((b) => document.querySelector('#usage-status').dataset.loaded !== b, loadedBefore);
  const total = Number((await kpi('Requests')).replace(/,/g, ''));
  check('the 7-day range adds the older events to the totals', total === 4 + seeded, `${total} = 4 + ${seeded}`);
  check('the 7-day request chart splits three models', (await page.locator('#chart-requests .legend li').count()) === 3);
  await page.screenshot({ path: join(artifacts, 'usage.png'), fullPage: true, animations: 'disabled' });

  // --- accessibility and hygiene ---------------------------------------------------
  const unlabeled = await page.evaluate(() => [...document.querySelectorAll('input, select')].filter((e) => !e.labels || !e.labels.length).map((e) => e.id || e.name));
  check('every input and select has a label', unlabeled.length === 0, unlabeled.join(','));
  await page.goto(base + '#live');
  await page.reload();
  await page.waitForSelector('#live-status[data-state="connected"]');
  await page.keyboard.press('Tab');
  check('the first Tab stop is the skip link', await page.evaluate(() => document.activeElement.classList.contains('skip')));
  check('no script errors or CSP violations in the console', consoleErrors.length === 0, consoleErrors.join(' | '));

  // --- sign-out ---------------------------------------------------------------------
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/dashboard\/login$/);
  const status = await page.evaluate(async () => (await fetch('/dashboard/api/logs')).status);
  check('sign-out ends the session: the APIs answer 401 again', status === 401, String(status));
} catch (error) {
  check('browser run completed', false, String(error && error.stack || error).split('\n').slice(0, 3).join(' '));
  await page.screenshot({ path: join(artifacts, 'failure.png'), fullPage: true }).catch(() => {});
} finally {
  await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  say(`DONE ${failures}`);
  process.exit(failures ? 1 : 0);
}
