import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { table } from '../audit/render';
import {
  parseHandlerCalls,
  runDoctor,
  type CheckResult,
  type DoctorClients,
  type HandlerCalls,
} from '../handlers/domain/doctor';
import { clients } from '../handlers/shared/clients';
import { EXIT_CODES } from './outcome';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Where the handlers' calls are listed (generated from the recorded call ledger). */
export const HANDLER_CALLS_FILE = path.join(ROOT, 'infra', 'handler-calls.json');

export interface DoctorOptions {
  stack: string;
  userPath?: string;
  secretPrefix?: string;
  userTag?: string;
  calls?: string;
  json: boolean;
}

/** The deploy context in cdk.json (`keyrot:userPath`, ...), which `cdk deploy` used unless overridden with -c. */
function cdkContext(): Record<string, unknown> {
  try {
    const cdk = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
    return cdk.context ?? {};
  } catch {
    return {};
  }
}

function handlerCalls(file: string): HandlerCalls | string {
  if (!existsSync(file)) return `no list of the handlers' calls at ${file}`;
  try {
    return parseHandlerCalls(readFileSync(file, 'utf8'));
  } catch (error) {
    return `${file} is not a list of handler calls: ${(error as Error).message}`;
  }
}

const line = (result: CheckResult) => `${result.status.padEnd(4)}  ${result.check}: ${result.detail}`;

/** `keyrot doctor`: check a deployment from its stack's outputs; exit UNHEALTHY when any check FAILs. */
export async function doctor(options: DoctorOptions): Promise<number> {
  const context = cdkContext();
  const text = (name: string) =>
    typeof context[`keyrot:${name}`] === 'string' ? (context[`keyrot:${name}`] as string) : undefined;
  const doctorClients: DoctorClients = {
    cloudformation: new CloudFormationClient({ maxAttempts: 4 }),
    dynamodb: new DynamoDBClient({ maxAttempts: 4 }),
    lambda: new LambdaClient({ maxAttempts: 4 }),
    sfn: clients.sfn,
    sns: clients.sns,
    cognito: clients.cognito,
    secrets: clients.secrets,
    s3: clients.s3,
    iam: clients.iam,
    sts: clients.sts,
  };
  const region = await doctorClients.cloudformation.config.region();
  const results = await runDoctor(
    doctorClients,
    {
      stackName: options.stack,
      region,
      userPath: options.userPath ?? text('userPath') ?? '/',
      secretPrefix: options.secretPrefix ?? text('secretPrefix') ?? 'keyrot/',
      userTag: options.userTag ?? text('userTag'),
      handlerCalls: handlerCalls(options.calls ?? HANDLER_CALLS_FILE),
    },
    (result) => {
      if (!options.json) process.stderr.write(`${line(result)}\n`);
    },
  );

  const counts = { OK: 0, FAIL: 0, SKIP: 0 };
  for (const result of results) counts[result.status] += 1;
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ stack: options.stack, region, healthy: counts.FAIL === 0, counts, checks: results })}\n`,
    );
  } else {
    // The fix goes on the line under its FAIL row, so the table stays narrow enough to read.
    const rows = table([['STATUS', 'CHECK', 'DETAIL'], ...results.map((r) => [r.status, r.check, r.detail])]).split(
      '\n',
    );
    const out = [rows[0] ?? ''];
    results.forEach((result, index) => {
      out.push(rows[index + 1] ?? '');
      if (result.fix) out.push(`      fix: ${result.fix}`);
    });
    out.push(`${counts.OK} OK, ${counts.FAIL} FAIL, ${counts.SKIP} SKIP (stack ${options.stack}, ${region})`);
    process.stdout.write(`${out.join('\n')}\n`);
  }
  return counts.FAIL === 0 ? 0 : EXIT_CODES.UNHEALTHY;
}
