import { createServer, type IncomingMessage } from 'node:http';
import { handleApprovalRequest } from '../handlers/domain/approval-http';
import type { TaskCallbacks } from '../handlers/domain/approvals';
import { clients, settings } from '../handlers/shared/clients';
import { asHandler, recordCallLedger } from './ledger';

/** Bodies larger than this are not read: the endpoint refuses anything over 16 KiB anyway. */
const READ_LIMIT = 64 * 1024;

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > READ_LIMIT) break;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface ApprovalServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * The approval pages of local mode on 127.0.0.1: the same handler, pages and rules as the
 * deployed function URL, resuming the local engine's waiting tasks. Sets
 * KEYROT_APPROVAL_BASE_URL so the links in notifications point here.
 */
export async function startApprovalServer(callbacks: TaskCallbacks, port = 0): Promise<ApprovalServer> {
  recordCallLedger();
  const server = createServer((request, response) => {
    void (async () => {
      try {
        const url = new URL(request.url ?? '/', 'http://127.0.0.1');
        const headers = Object.fromEntries(
          Object.entries(request.headers).map(([name, value]) => [
            name,
            Array.isArray(value) ? value.join(', ') : value,
          ]),
        );
        const body = await readBody(request);
        const answer = await asHandler('approval-api', () =>
          handleApprovalRequest(
            { clients, callbacks, config: settings() },
            {
              method: (request.method ?? 'GET').toUpperCase(),
              path: url.pathname,
              query: Object.fromEntries(url.searchParams),
              headers,
              body,
            },
          ),
        );
        response.writeHead(answer.status, answer.headers).end(answer.body);
      } catch {
        if (!response.headersSent) response.writeHead(400, { 'content-type': 'text/plain' });
        response.end('bad request');
      }
    })();
  });
  // Requests Node's parser refuses (unknown methods, malformed lines) still get a complete answer.
  server.on('clientError', (_error, socket) => {
    if (socket.writable) {
      socket.end(
        'HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 12\r\nconnection: close\r\n\r\nbad request\n',
      );
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : port}`;
  process.env.KEYROT_APPROVAL_BASE_URL = url;
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
