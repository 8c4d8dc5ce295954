import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { rotationAtGate, type Waiting } from '../support/approval-gate';
import { LocalAws } from '../support/local-aws';

let aws: LocalAws;
let server: { url: string; stop: () => Promise<void> };
let waiting: Waiting;

/** A POST with exactly these headers (fetch would add a Content-Type of its own to a string body). */
function send(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: 'POST',
        path: `${target.pathname}${target.search}`,
        headers: { accept: 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers },
        timeout: 120_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error('timed out')));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

const form = (csrf: string) =>
  new URLSearchParams({
    csrf,
    username: 'quality-approver',
    password: 'Demo-Approver-1!',
    meaning: 'APPROVED',
    reason: 'CR-1042 reviewed',
  }).toString();

const message = (answer: { body: string }) => (JSON.parse(answer.body) as { message: string }).message;

describe('media types, parsed as HTTP says', () => {
  beforeAll(async () => {
    aws = await LocalAws.start();
    const { LocalTaskTokens } = await import('../../local/engine');
    const { startApprovalServer } = await import('../../local/approval-server');
    const tokens = new LocalTaskTokens();
    server = await startApprovalServer(tokens);
    waiting = await rotationAtGate({ aws, tokens, serverUrl: server.url }, 'media-user');
  });
  afterAll(async () => {
    await server?.stop();
    await aws?.stop();
  });

  it('refuses with 415 and a message naming both types a form that is not application/x-www-form-urlencoded', async () => {
    for (const type of [
      'application/x-www-form-urlencodedXYZ',
      'application/x-www-form-urlencoded-evil; charset=utf-8',
      'application/x-www-form-urlencoded, text/html',
      'application/x-www-form-urlencoded; charset',
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/json',
    ]) {
      const answer = await send(waiting.link, form(waiting.csrf), { 'content-type': type });

      assert.equal(answer.status, 415, `${type}: ${answer.body}`);
      assert.equal(
        message(answer),
        `Send the form as application/x-www-form-urlencoded; this request has Content-Type "${type}".`,
      );
    }
    const bare = await send(waiting.link, form(waiting.csrf), {});
    assert.equal(bare.status, 415, bare.body);
    assert.match(message(bare), /this request has no Content-Type/);
    assert.equal((await waiting.record()).status, 'PENDING');
    assert.equal(waiting.settled(), false, 'the execution still waits');
  });

  it('shows a hostile Content-Type (markup, a C1 control) escaped in the 415 page', async () => {
    const answer = await send(waiting.link, form(waiting.csrf), {
      'content-type': 'text/<script>\u009b2J',
      accept: 'text/html',
    });

    assert.equal(answer.status, 415);
    // The client writes the header as UTF-8 (C2 9B) and the server reads it as Latin-1 (Â, then U+009B).
    assert.match(answer.body, /Content-Type &quot;text\/&lt;script&gt;Â\\u009b2J&quot;/);
    assert.ok(!answer.body.includes('<script>') && !answer.body.includes('\u009b'), answer.body);
  });

  it('reads type and subtype case-insensitively, with parameters, on every form and JSON route', async () => {
    for (const type of [
      'APPLICATION/X-WWW-FORM-URLENCODED',
      'application/x-www-form-urlencoded; charset=UTF-8',
      'Application/X-WWW-Form-Urlencoded ; charset="utf-8"',
    ]) {
      // A wrong form token: past the media type, refused by the next check, nothing decided.
      const answer = await send(waiting.link, form('0'.repeat(64)), { 'content-type': type });
      assert.equal(answer.status, 403, `${type}: ${answer.body}`);
      assert.match(message(answer), /form token is missing or wrong/);
      const password = await send(`${server.url}/password`, 'csrf=x', { 'content-type': type });
      assert.notEqual(password.status, 415, `password page, ${type}: ${password.body}`);
    }
    const xyz = await send(`${server.url}/password`, 'csrf=x', {
      'content-type': 'application/x-www-form-urlencodedXYZ',
    });
    assert.equal(xyz.status, 415, xyz.body);

    const confirmation = `${server.url}/confirm/confirm-${'0'.repeat(32)}`;
    const json = await send(confirmation, '{}', { 'content-type': 'Application/JSON; charset=utf-8' });
    assert.notEqual(json.status, 415, json.body);
    const jsonx = await send(confirmation, '{}', { 'content-type': 'application/jsonx' });
    assert.equal(jsonx.status, 415, jsonx.body);
    assert.match(message(jsonx), /Send the signed request as application\/json; this request has Content-Type/);
  });

  it('signs a decision sent with an upper-case media type and a charset', async () => {
    const answer = await send(waiting.link, form(waiting.csrf), {
      'content-type': 'APPLICATION/X-WWW-FORM-URLENCODED; CHARSET=UTF-8',
    });

    assert.equal(answer.status, 200, answer.body);
    assert.equal((await waiting.record()).status, 'APPROVED');
    assert.equal((await waiting.run).status, 'SUCCEEDED');
  });
});
