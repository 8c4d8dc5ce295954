import { Duration } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';

/** The Lambda handlers the workflow strings together: one file each under `handlers/`. */
export const HANDLER_NAMES = [
  'detect-keys',
  'request-approval',
  'check-approval',
  'create-key',
  'distribute-key',
  'check-key-used',
  'await-consumer',
  'verify-key',
  'deactivate-key',
  'delete-key',
  'confirm-old-key-refused',
  'finish-rotation',
  'roll-back',
] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];

/**
 * AWS errors worth another attempt (the SDK names some with and some without `Exception`);
 * a Lambda that died shows up as Lambda.Unknown.
 */
export const TRANSIENT = {
  errors: [
    'Throttling',
    'ThrottlingException',
    'ServiceFailure',
    'ServiceFailureException',
    'ServiceUnavailable',
    'InternalFailure',
    'InternalServiceError',
    'TooManyRequestsException',
    'Lambda.Unknown',
    'Sandbox.Timedout',
    // The Lambda service's own errors: CDK would retry them without jitter, so every task
    // turns that off (retryOnServiceExceptions: false) and they are retried here instead.
    'Lambda.ServiceException',
    'Lambda.AWSLambdaException',
    'Lambda.SdkClientException',
    'Lambda.ClientExecutionTimeoutException',
    'Lambda.TooManyRequestsException',
  ],
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 4,
  maxDelay: Duration.seconds(60),
  jitterStrategy: sfn.JitterType.FULL,
};

/** IAM is eventually consistent: a new key may be refused, a deleted one accepted, for a while. */
const EVENTUAL_CONSISTENCY = {
  interval: Duration.seconds(5),
  backoffRate: 2,
  maxAttempts: 6,
  maxDelay: Duration.seconds(60),
  jitterStrategy: sfn.JitterType.FULL,
};

/** Settings fixed at deployment rather than per execution. */
export interface RotationSettings {
  /**
   * How long an approval gate waits for a decision. A deployment setting, not an input:
   * Step Functions resolves TimeoutSecondsPath against the state input while
   * aws-local-stepfunctions resolves it against the task's parameters, so only a fixed
   * TimeoutSeconds means the same thing in both.
   */
  approvalTimeout: Duration;
}

/**
 * The rotation of one IAM user's access key: detect, (approve), create, distribute, validate,
 * verify, approve deletion, deactivate, grace, delete, confirm, finish; every failure after
 * the key exists goes to the rollback. Durations, thresholds and gates come from `$.config`.
 */
export function rotationDefinition(
  scope: Construct,
  fns: Record<HandlerName, IFunction>,
  settings: RotationSettings,
): sfn.IChainable {
  // resultPath undefined means the result replaces the state (ASL's default); an explicit '$'
  // would be the same in AWS, but aws-local-stepfunctions 3.0 stores it under a '$' key.
  const step = (
    id: string,
    fn: HandlerName,
    resultPath: string | undefined,
    payload?: sfn.TaskInput,
    retry: sfn.RetryProps = TRANSIENT,
  ) =>
    new tasks.LambdaInvoke(scope, id, {
      lambdaFunction: fns[fn],
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      resultPath,
      payload,
      taskTimeout: sfn.Timeout.duration(Duration.minutes(2)),
    }).addRetry(retry);

  const gate = (id: string, gateName: 'ROTATION' | 'DELETION', resultPath: string) =>
    new tasks.LambdaInvoke(scope, id, {
      lambdaFunction: fns['request-approval'],
      retryOnServiceExceptions: false,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({
        taskToken: sfn.JsonPath.taskToken,
        gate: gateName,
        expiresInSeconds: settings.approvalTimeout.toSeconds(),
        state: sfn.JsonPath.entirePayload,
      }),
      resultPath,
      taskTimeout: sfn.Timeout.duration(settings.approvalTimeout),
    }).addRetry(TRANSIENT);

  // Terminal states.
  const invalid = new sfn.Fail(scope, 'Invalid Request', {
    errorPath: '$.failure.Error',
    causePath: '$.failure.Cause',
  });
  const skipped = new sfn.Succeed(scope, 'Skipped');
  const rejected = new sfn.Fail(scope, 'Rejected', { error: 'REJECTED', causePath: '$.failure.Cause' });
  const rolledBack = new sfn.Fail(scope, 'Rolled Back', { error: 'ROLLED_BACK', causePath: '$.rollback.cause' });
  const rollbackFailed = new sfn.Fail(scope, 'Rollback Failed', {
    error: 'ROLLBACK_FAILED',
    causePath: '$.rollback.cause',
  });
  const rotated = new sfn.Succeed(scope, 'Rotated', { outputPath: '$.summary' });

  // Rollback: a branch of its own, entered from every failure after the key exists.
  // The safety net outlasts a longer outage than the steps it protects: ten tries over up to
  // about six minutes (2+4+8+16+32+60×5 s of pauses) before it raises ROLLBACK_FAILED.
  const rollback = step('Roll Back', 'roll-back', '$.rollback', undefined, { ...TRANSIENT, maxAttempts: 10 })
    .addCatch(
      new sfn.Pass(scope, 'Record Rollback Error', {
        parameters: { outcome: 'ROLLBACK_FAILED', 'cause.$': '$.rollbackError.Cause' },
        resultPath: '$.rollback',
      }).next(rollbackFailed),
      { resultPath: '$.rollbackError' },
    )
    .next(
      new sfn.Choice(scope, 'Rolled Back?')
        .when(sfn.Condition.stringEquals('$.rollback.outcome', 'ROLLED_BACK'), rolledBack)
        .otherwise(rollbackFailed),
    );
  const orRollBack = <T extends sfn.TaskStateBase>(task: T): T => {
    task.addCatch(rollback, { resultPath: '$.failure' });
    return task;
  };

  const notRotated = (id: string, reason: string) =>
    new sfn.Pass(scope, id, {
      parameters: {
        outcome: 'SKIPPED',
        'decision.$': '$.detection.decision',
        'reason.$': reason,
        'executionId.$': '$.executionId',
        'userName.$': '$.userName',
        'oldKeyId.$': '$.detection.oldKeyId',
      },
    }).next(skipped);

  const detect = step(
    'Detect Keys',
    'detect-keys',
    undefined,
    sfn.TaskInput.fromObject({
      input: sfn.JsonPath.objectAt('$.request'),
      executionId: sfn.JsonPath.executionId,
      startedAt: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
    }),
  ).addCatch(invalid, {
    // Misconfigured: a setting or endpoint the rotation needs is wrong, found before any key exists.
    errors: ['InvalidInput', 'UserNotFound', 'AccountNotManaged', 'Misconfigured'],
    resultPath: '$.failure',
  });

  const approveRotation = gate('Approve Rotation', 'ROTATION', '$.rotationApproval')
    .addCatch(rejected, { errors: ['ApprovalRejected'], resultPath: '$.failure' })
    .addCatch(
      notRotated(
        'Approval Expired',
        "States.Format('no decision before the rotation approval expired ({})', $.failure.Error)",
      ),
      { errors: ['States.Timeout'], resultPath: '$.failure' },
    )
    .addCatch(invalid, { resultPath: '$.failure' });

  // After each gate, a check that fails closed: only a well-formed APPROVED signature whose
  // digest verifies and which names this execution and these keys lets the workflow go on.
  const checkApproval = (id: string, gateName: 'ROTATION' | 'DELETION', resultPath: string, keyIds: string[]) =>
    step(
      id,
      'check-approval',
      resultPath,
      sfn.TaskInput.fromObject({
        signature: sfn.JsonPath.objectAt(resultPath),
        gate: gateName,
        executionId: sfn.JsonPath.stringAt('$.executionId'),
        keyIds: sfn.JsonPath.array(...keyIds.map((path) => sfn.JsonPath.stringAt(path))),
      }),
    );
  const checkRotationApproval = checkApproval('Check Rotation Approval', 'ROTATION', '$.rotationApproval', [
    '$.detection.oldKeyId',
  ]).addCatch(notRotated('Rotation Not Approved', '$.failure.Cause'), { resultPath: '$.failure' });
  const checkDeletionApproval = orRollBack(
    checkApproval('Check Deletion Approval', 'DELETION', '$.deletionApproval', [
      '$.detection.oldKeyId',
      '$.created.newKeyId',
    ]),
  );

  const createKey = orRollBack(step('Create Access Key', 'create-key', '$.created'));
  const distribute = orRollBack(step('Distribute Key', 'distribute-key', '$.distributed'));
  const checkUsed = orRollBack(step('Check New Key Used', 'check-key-used', '$.validation'));
  const verify = orRollBack(
    step('Verify New Key', 'verify-key', '$.verified').addRetry({
      errors: ['NewKeyNotValid'],
      ...EVENTUAL_CONSISTENCY,
    }),
  );
  const approveDeletion = orRollBack(gate('Approve Deletion', 'DELETION', '$.deletionApproval'));
  // A consumer still on the old key gets an hour to move (six checks ten minutes apart), then
  // the catch rolls back: the old key is never retired while it is still used.
  const deactivate = orRollBack(
    step('Deactivate Old Key', 'deactivate-key', '$.deactivated').addRetry({
      errors: ['OldKeyStillInUse'],
      interval: Duration.minutes(10),
      backoffRate: 1,
      maxAttempts: 6,
    }),
  );
  const grace = new sfn.Wait(scope, 'Grace Period', { time: sfn.WaitTime.secondsPath('$.config.graceSeconds') });
  const remove = orRollBack(step('Delete Old Key', 'delete-key', '$.deleted'));
  const confirm = orRollBack(
    step('Confirm Old Key Refused', 'confirm-old-key-refused', '$.confirmed').addRetry({
      errors: ['OldKeyStillAccepted'],
      ...EVENTUAL_CONSISTENCY,
    }),
  );
  const finish = step('Finish', 'finish-rotation', '$.summary');

  const destroyOldKey = deactivate.next(grace).next(remove).next(confirm).next(finish).next(rotated);
  const deletion = new sfn.Choice(scope, 'Deletion Approval Required?')
    .when(
      sfn.Condition.booleanEquals('$.config.approveDeletion', true),
      approveDeletion.next(checkDeletionApproval).next(destroyOldKey),
    )
    .otherwise(destroyOldKey);

  const validated = verify.next(deletion);
  const waitBeforeChecking = new sfn.Wait(scope, 'Wait Before Checking Again', {
    time: sfn.WaitTime.secondsPath('$.config.validationPollSeconds'),
  });
  // Callback validation: the consumer's proof of possession resumes it (through the approval
  // endpoint). Like the gates, its TimeoutSeconds is the deployment's approval timeout, not the
  // input's validationTimeoutSeconds (see RotationSettings); a timeout goes to the rollback.
  const waitForConsumer = orRollBack(
    new tasks.LambdaInvoke(scope, 'Wait For Consumer', {
      lambdaFunction: fns['await-consumer'],
      retryOnServiceExceptions: false,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({
        taskToken: sfn.JsonPath.taskToken,
        expiresInSeconds: settings.approvalTimeout.toSeconds(),
        state: sfn.JsonPath.entirePayload,
      }),
      resultPath: '$.validation',
      taskTimeout: sfn.Timeout.duration(settings.approvalTimeout),
    }).addRetry(TRANSIENT),
  );
  const validation = new sfn.Choice(scope, 'Validation Mode?')
    .when(sfn.Condition.stringEquals('$.config.validationMode', 'callback'), waitForConsumer.next(validated))
    .when(
      sfn.Condition.stringEquals('$.config.validationMode', 'last-used'),
      checkUsed.next(
        new sfn.Choice(scope, 'New Key In Use?')
          .when(sfn.Condition.booleanEquals('$.validation.used', true), validated)
          .otherwise(waitBeforeChecking.next(checkUsed)),
      ),
    )
    .otherwise(validated);

  const rotate = createKey.next(distribute).next(validation);

  // The input, whatever it is (a string, an array, null), is wrapped before Detect validates
  // it, so that refusing it can always record the failure beside it and end in Invalid Request.
  const receive = new sfn.Pass(scope, 'Receive Request', { parameters: { 'request.$': '$' } });

  return receive
    .next(detect)
    .next(
      new sfn.Choice(scope, 'Key Due?')
        .when(
          sfn.Condition.stringEquals('$.detection.decision', 'ROTATE'),
          new sfn.Choice(scope, 'Rotation Approval Required?')
            .when(
              sfn.Condition.booleanEquals('$.config.approveRotation', true),
              approveRotation.next(checkRotationApproval).next(rotate),
            )
            .otherwise(rotate),
        )
        .otherwise(notRotated('Not Rotated', '$.detection.reason')),
    );
}
