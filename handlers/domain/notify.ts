import { PublishCommand } from '@aws-sdk/client-sns';
import type { Clients } from '../shared/clients';
import { logger } from '../shared/logger';

export interface Notice {
  subject: string;
  /** Plain text; built from key ids and names only. */
  message: string;
  userName: string;
  event: string;
}

/**
 * Publish a notification. A notification that fails never fails the rotation: the failure
 * is logged and returned so the step records it in the execution history.
 */
export async function notify(
  { sns }: Pick<Clients, 'sns'>,
  topicArn: string | undefined,
  notice: Notice,
): Promise<{ notified: boolean; error?: string }> {
  if (!topicArn) return { notified: false, error: 'no topic configured' };
  try {
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: notice.subject.slice(0, 99),
        Message: notice.message,
        MessageAttributes: {
          userName: { DataType: 'String', StringValue: notice.userName },
          event: { DataType: 'String', StringValue: notice.event },
        },
      }),
    );
    return { notified: true };
  } catch (error) {
    const name = error instanceof Error ? error.name : 'UnknownError';
    logger.warn('notification failed', { event: notice.event, error: name });
    return { notified: false, error: name };
  }
}
