import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { MAX_ATTEMPTS, roleClient } from './hooks';

export const ddb = DynamoDBDocumentClient.from(roleClient(new DynamoDBClient({ maxAttempts: MAX_ATTEMPTS })));
