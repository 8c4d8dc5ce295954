import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from '@jest/globals';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Every path that reaches the approvals table deployed or locally: handlers, core, CLI, local mode, audit. */
const SHIPPED = ['handlers', 'cli', 'local', 'audit'];
/** Ways the SDK reads a whole DynamoDB table. */
const SCANS = /\b(ScanCommand|paginateScan|ParallelScan|ScanInput|\.scan\()/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('the approvals table', () => {
  it('is never scanned by a handler, the CLI or local mode: every read is by key or an index Query', () => {
    const files = SHIPPED.flatMap((dir) => sources(path.join(ROOT, dir)));
    assert.ok(files.length > 50, `found only ${files.length} source files`);
    const scanning = files
      .filter((file) => SCANS.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(ROOT, file));
    // The table holds every approval ever requested: a Scan reads all of it (bench/approvals.ts).
    assert.deepEqual(scanning, [], 'use a Query on one of handlers/shared/approval-indexes.ts (or add an index)');
  });
});
