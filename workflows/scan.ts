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
  /** How many rotations the Distributed Map starts at once. */
  maxConcurrency: number;
}

/**
 * The daily scan: read every account's credential report, then a Distributed Map starts one
 * rotation per DUE user (the execution name makes a second scan in the window start nothing),
 * then a summary goes to the notification topic.
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
    }),
    resultPath: '$.scan',
    taskTimeout: sfn.Timeout.duration(Duration.minutes(15)),
  }).addRetry(TRANSIENT);

  const start = new tasks.LambdaInvoke(scope, 'Start Rotation', {
    retryOnServiceExceptions: false,
    lambdaFunction: fns['start-rotation'],
    payloadResponseOnly: true,
    taskTimeout: sfn.Timeout.duration(Duration.minutes(1)),
  })
    .addRetry({ ...TRANSIENT, errors: [...TRANSIENT.errors, 'StepFunctions.ThrottlingException'] })
    .addCatch(
      new sfn.Pass(scope, 'Start Failed', {
        parameters: { 'userName.$': '$.userName', 'failed.$': '$.failure.Error', started: false },
      }),
      { resultPath: '$.failure' },
    );

  const startAll = new sfn.DistributedMap(scope, 'Start Rotations', {
    itemsPath: '$.scan.due',
    itemSelector: {
      'userName.$': '$$.Map.Item.Value.userName',
      'account.$': '$$.Map.Item.Value.account',
      'scannedAt.$': '$.scan.scannedAt',
    },
    maxConcurrency: settings.maxConcurrency,
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
