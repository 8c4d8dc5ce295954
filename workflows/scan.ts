import { Duration } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { TRANSIENT } from './rotation';

/** The Lambda handlers of the daily scan: one file each under `handlers/`. */
export const SCAN_HANDLER_NAMES = ['scan-fleet', 'start-rotation', 'send-summary'] as const;
export type ScanHandlerName = (typeof SCAN_HANDLER_NAMES)[number];

export interface ScanSettings {
  /** How many rotations the scan starts at once. */
  maxConcurrency: number;
}

/**
 * The daily scan: read every account's credential report and write the DUE users to S3 in lists,
 * then a map over the lists (one at a time) starts each list's rotations, `maxConcurrency` at once
 * (the execution name makes a second scan in the window start nothing), then a summary goes to
 * the notification topic. The state holds list keys and counts, never the users: its size does
 * not grow with user names, paths or accounts. An inline Map, which the local engine runs (it
 * reads no ItemReader), with a few hundred iterations at most, well inside the history's limit.
 */
export function scanDefinition(
  scope: Construct,
  fns: Record<ScanHandlerName, IFunction>,
  settings: ScanSettings,
): sfn.IChainable {
  const scan = new tasks.LambdaInvoke(scope, 'Scan Accounts', {
    retryOnServiceExceptions: false,
    lambdaFunction: fns['scan-fleet'],
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({
      input: sfn.JsonPath.entirePayload,
      startedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
      scanName: sfn.JsonPath.stringAt('$$.Execution.Name'),
    }),
    resultPath: '$.scan',
    taskTimeout: sfn.Timeout.duration(Duration.minutes(15)),
  }).addRetry(TRANSIENT);

  const start = new tasks.LambdaInvoke(scope, 'Start Due List', {
    retryOnServiceExceptions: false,
    lambdaFunction: fns['start-rotation'],
    payloadResponseOnly: true,
    // A list of 500 at 10 at once takes seconds; throttled starts back off inside the SDK.
    taskTimeout: sfn.Timeout.duration(Duration.minutes(5)),
  })
    .addRetry(TRANSIENT)
    .addCatch(
      new sfn.Pass(scope, 'Start List Failed', {
        parameters: { 'key.$': '$.key', 'count.$': '$.count', 'listFailed.$': '$.failure.Error' },
      }),
      { resultPath: '$.failure' },
    );

  const startAll = new sfn.Map(scope, 'Start Rotations', {
    itemsPath: '$.scan.lists',
    itemSelector: {
      'key.$': '$$.Map.Item.Value.key',
      'count.$': '$$.Map.Item.Value.count',
      'scannedAt.$': '$.scan.scannedAt',
      startsAtOnce: settings.maxConcurrency,
    },
    // One list at a time: the bound on rotations starting at once is the list's own concurrency.
    maxConcurrency: 1,
    resultPath: '$.starts',
  }).itemProcessor(start);

  const summary = new tasks.LambdaInvoke(scope, 'Send Summary', {
    retryOnServiceExceptions: false,
    lambdaFunction: fns['send-summary'],
    payloadResponseOnly: true,
    payload: sfn.TaskInput.fromObject({
      scan: sfn.JsonPath.objectAt('$.scan'),
      starts: sfn.JsonPath.listAt('$.starts'),
    }),
    resultPath: '$.summary',
    taskTimeout: sfn.Timeout.duration(Duration.minutes(1)),
  }).addRetry(TRANSIENT);

  return scan
    .next(startAll)
    .next(summary)
    .next(new sfn.Succeed(scope, 'Scanned', { outputPath: '$.summary' }));
}
