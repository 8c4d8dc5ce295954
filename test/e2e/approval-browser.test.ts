import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { chromium, type Browser, type Page } from 'playwright-core';
import { renderHtml } from '../../audit/html';
import { replay } from '../../audit/replay';
import type { LocalExecution } from '../../local/engine';
import { LocalAws } from '../support/local-aws';
import { runRotation } from '../support/rotation-runner';

const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let aws: LocalAws;
let browser: Browser;
let server: { url: string; stop: () => Promise<void> };
let tokens: InstanceType<typeof import('../../local/engine').LocalTaskTokens>;
/** The executions signed in the browser, for the audit report test. */
const signed: LocalExecution[] = [];

/** Start a rotation that waits at the deletion gate and return it with its approval link. */
async function rotationWaitingForApproval(userName: string): Promise<{ run: Promise<LocalExecution>; link: string }> {
  await aws.seedUser(userName);
  const run = runRotation({ userName, force: true, config: { validationMode: 'none' } }, { decision: 'none', tokens });
  // The link as an approver gets it: from the notification.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const link = (await aws.notifications())
      .map((body) => /(http:\/\/127\.0\.0\.1:\d+\/approvals\/[0-9a-f]{32}\?sig=[0-9a-f]{64})/.exec(body)?.[1])
      .find((found) => found !== undefined);
    if (link && (await (await fetch(link)).text()).includes(`<code>${userName}</code>`)) return { run, link };
    if (Date.now() > deadline) throw new Error(`no approval link for ${userName}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Run axe-core in the page (its CSP allows no script, so the context must bypass CSP). */
async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE });
  return page.evaluate(async () => {
    const result = await (
      globalThis as unknown as { axe: { run: () => Promise<{ violations: { id: string; help: string }[] }> } }
    ).axe.run();
    return result.violations.map((violation) => `${violation.id}: ${violation.help}`);
  });
}

async function sign(page: Page, meaning: 'Approve' | 'Reject', reason: string): Promise<void> {
  await page.getByLabel('User name').fill('quality-approver');
  await page.getByLabel('Password').fill('Demo-Approver-1!');
  await page.getByLabel(meaning, { exact: true }).check();
  await page.getByLabel('Reason').fill(reason);
  await page.getByRole('button', { name: 'Sign decision' }).click();
  await page.waitForLoadState('load');
}

describe('approving in a real browser', () => {
  beforeAll(async () => {
    aws = await LocalAws.start();
    const engine = await import('../../local/engine');
    tokens = new engine.LocalTaskTokens();
    server = await (await import('../../local/approval-server')).startApprovalServer(tokens);
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await aws?.stop();
  });

  it('opens the link, passes axe, signs an approval, and the rotation completes', async () => {
    const { run, link } = await rotationWaitingForApproval('browser-approved');
    // The page's CSP allows no script at all, so axe is injected with CSP bypassed for the check.
    const page = await (await browser.newContext({ bypassCSP: true })).newPage();
    const errors: string[] = [];
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));

    await page.goto(link);
    const violations = await axeViolations(page);
    await page.screenshot({ path: path.join(ARTIFACTS, 'approval-page.png'), fullPage: true });
    const posted = Date.now();
    await sign(page, 'Approve', 'CR-1042: consumer confirmed on the new key');
    const execution = await run;
    const resumedMs = Date.now() - posted;
    signed.push(execution);
    await page.screenshot({ path: path.join(ARTIFACTS, 'approval-signed.png'), fullPage: true });

    assert.deepEqual(violations, []);
    assert.deepEqual(errors, []);
    assert.match(await page.locator('h1').innerText(), /^Approved: Approve Deletion for browser-approved/);
    assert.equal(execution.status, 'SUCCEEDED', `${execution.error} ${execution.cause}`);
    process.stdout.write(`# POST to rotation finished: ${resumedMs} ms\n`);
  });

  it('signs a rejection in the browser and the rotation ends ROLLED_BACK', async () => {
    const { run, link } = await rotationWaitingForApproval('browser-rejected');
    const page = await browser.newPage();

    await page.goto(link);
    await sign(page, 'Reject', 'consumer still on the old key');
    const execution = await run;
    signed.push(execution);

    assert.match(await page.locator('h1').innerText(), /^Rejected: Approve Deletion/);
    assert.equal(execution.error, 'ROLLED_BACK');
    assert.match(execution.cause ?? '', /rejected by Quinn Avery \(QA Lead\)/);
  });

  it('shows a wrong password on the page without recording anything', async () => {
    const { run, link } = await rotationWaitingForApproval('browser-wrong-password');
    const page = await browser.newPage();

    await page.goto(link);
    await page.getByLabel('User name').fill('quality-approver');
    await page.getByLabel('Password').fill('guess');
    await page.getByLabel('Approve', { exact: true }).check();
    await page.getByLabel('Reason').fill('ok');
    await page.getByRole('button', { name: 'Sign decision' }).click();
    await page.waitForLoadState('load');

    assert.match(await page.getByRole('alert').innerText(), /Sign-in refused: the user name or password is not right/);
    await sign(page, 'Reject', 'tidy up');
    assert.equal((await run).error, 'ROLLED_BACK');
  });

  it('renders the audit report of a signed rotation offline, with no console errors and no axe violations', async () => {
    // The signatures are checked as an auditor checks them: with keyrot's public key.
    const { clients, settings } = await import('../../handlers/shared/clients');
    const { verificationKey } = await import('../../handlers/domain/signing');
    const publicKey = await verificationKey(clients.kms, settings());
    for (const [index, execution] of signed.entries()) {
      const file = path.join(ARTIFACTS, `audit-report${index === 0 ? '' : '-rejected'}.html`);
      writeFileSync(file, renderHtml(replay(execution, { publicKey }), execution.definition));
      const page = await (await browser.newContext({ bypassCSP: true })).newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('request', (request) => requests.push(request.url()));

      await page.goto(`file://${file}`);
      const visited = await page.locator('svg g.node.visited').count();
      const taken = await page.locator('svg path.edge.taken').count();
      const signature = await page.locator('.sig').first().innerText();
      await page.screenshot({ path: file.replace(/\.html$/, '.png'), fullPage: true });
      const violations = await axeViolations(page);

      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [`file://${file}`], 'the report loads nothing from anywhere');
      assert.deepEqual(violations, []);
      const states = new Set(replay(execution).steps.map((step) => step.state));
      assert.equal(visited, states.size, 'every state the execution entered is highlighted');
      assert.ok(taken >= states.size - 1, `${taken} transitions highlighted`);
      assert.match(signature, /by Quinn Avery \(QA Lead\) \(quality-approver\) at .* UTC/);
      assert.match(signature, /verified: KMS signature by arn:aws:kms:/);
    }
  });
});
