import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import middy from '@middy/core';
import type * as z from './zod';
import { InvalidInputError, ServiceUnavailableError } from './errors';
import { logger } from './logger';
import { describeIssues } from './schemas';

/**
 * Wrap a domain step as a Lambda handler: Powertools logger with the Lambda context,
 * payload parsed by `schema`, and a malformed payload refused as `InvalidInput` before the
 * step runs, so no AWS call happens on bad input.
 */
export function lambdaHandler<S extends z.ZodMiniType, R>(schema: S, step: (input: z.infer<S>) => Promise<R>) {
  return middy()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(parser({ schema, safeParse: true }))
    .handler(async (event) => {
      if (!event.success) {
        const error = event.error as z.core.$ZodError | Error;
        const detail = 'issues' in error ? describeIssues(error) : error.message;
        throw new InvalidInputError(`invalid input: ${detail}`);
      }
      try {
        return await step(event.data as z.infer<S>);
      } catch (error) {
        throw unreachableAsTransient(error);
      }
    });
}

/** Node's codes for a connection that could not be made or was cut. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);

/**
 * The SDK throws Node's own error (name `Error`) when an endpoint cannot be reached, and an
 * unnamed error for a bare 5xx; the state machine could only catch those, not retry them.
 * They leave the handler as `ServiceUnavailable`; every named AWS error keeps its name.
 */
export function unreachableAsTransient(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const { code, $fault, $metadata } = error as { code?: string; $fault?: string; $metadata?: { attempts?: number } };
  const network = (code !== undefined && NETWORK_CODES.has(code)) || error.name === 'TimeoutError';
  const unnamedServerError = $fault === 'server' && ['Error', 'Unknown', 'UnknownError'].includes(error.name);
  if (!network && !unnamedServerError) return error;
  const attempts = $metadata?.attempts ? ` after ${$metadata.attempts} attempt(s)` : '';
  return new ServiceUnavailableError(`AWS could not be reached${attempts}: ${code ?? error.name}: ${error.message}`);
}
