import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import middy from '@middy/core';
import type { z } from 'zod';
import { InvalidInputError } from './errors';
import { logger } from './logger';
import { describeIssues } from './schemas';

/**
 * Wrap a domain step as a Lambda handler: Powertools logger with the Lambda context,
 * payload parsed by `schema`, and a malformed payload refused as `InvalidInput` before the
 * step runs, so no AWS call happens on bad input.
 */
export function lambdaHandler<S extends z.ZodType, R>(schema: S, step: (input: z.infer<S>) => Promise<R>) {
  return middy()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(parser({ schema, safeParse: true }))
    .handler(async (event) => {
      if (!event.success) {
        const error = event.error as z.ZodError | Error;
        const detail = 'issues' in error ? describeIssues(error) : error.message;
        throw new InvalidInputError(`invalid input: ${detail}`);
      }
      return step(event.data as z.infer<S>);
    });
}
