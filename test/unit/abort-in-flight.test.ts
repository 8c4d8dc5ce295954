import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { inFlightFunction } from '../../cli/operate';

// A deployed abort waits for a Lambda function still running when the execution stopped:
// StopExecution does not stop it, and it could move the secret after the rollback.
const at = '2026-12-02T10:00:00.000Z';
const entered = (name: string, id: number) => ({
  id,
  timestamp: at,
  type: 'TaskStateEntered',
  stateEnteredEventDetails: { name, input: '{}' },
});
const scheduled = (id: number, resource: string, timeoutInSeconds?: number) => ({
  id,
  timestamp: at,
  type: 'TaskScheduled',
  taskScheduledEventDetails: {
    resource,
    resourceType: 'lambda',
    region: 'us-east-1',
    parameters: '{}',
    timeoutInSeconds,
  },
});
const event = (id: number, type: string) => ({ id, timestamp: at, type });
const aborted = (id: number) => event(id, 'ExecutionAborted');

describe('the function a deployed abort waits for', () => {
  it('is the Lambda task scheduled and not ended, until its timeout', () => {
    const found = inFlightFunction({ events: [entered('Distribute Key', 1), scheduled(2, 'invoke', 120), aborted(3)] });
    assert.deepEqual(found, { state: 'Distribute Key', until: new Date('2026-12-02T10:02:00.000Z') });
  });

  it('is bounded by Lambda limit of 15 minutes when the task has no timeout', () => {
    const found = inFlightFunction({ events: [entered('Create Access Key', 1), scheduled(2, 'invoke'), aborted(3)] });
    assert.equal(found?.until.toISOString(), '2026-12-02T10:15:00.000Z');
  });

  it('is none once the task ended, succeeded or failed', () => {
    for (const end of ['TaskSucceeded', 'TaskFailed', 'TaskTimedOut', 'LambdaFunctionFailed']) {
      const events = [entered('Distribute Key', 1), scheduled(2, 'invoke', 120), event(3, end), aborted(4)];
      assert.equal(inFlightFunction({ events }), undefined, end);
    }
  });

  it('is none at a gate whose function returned (the task was submitted), and the function until then', () => {
    const gate = [entered('Approve Deletion', 1), scheduled(2, 'invoke.waitForTaskToken', 86_400)];
    assert.equal(inFlightFunction({ events: [...gate, event(3, 'TaskSubmitted'), aborted(4)] }), undefined);
    assert.equal(inFlightFunction({ events: [...gate, aborted(3)] })?.until.toISOString(), '2026-12-02T10:15:00.000Z');
  });

  it('is none in a Wait state or before any task', () => {
    assert.equal(inFlightFunction({ events: [event(1, 'ExecutionStarted'), aborted(2)] }), undefined);
  });
});
