import { types } from 'node:util';
import { TestEnvironment } from 'jest-environment-node';

/**
 * jest's node environment, with one realm difference taken away (jestjs/jest#2549): errors that
 * Node itself raises (a refused connection's ECONNREFUSED) come from outside the test's
 * sandbox, so `error instanceof Error` was false for them there, and the AWS SDK replaced them
 * with an "AWS SDK error wrapper" that had lost their code. As in a Lambda, every native error
 * is an Error here; subclasses (`instanceof ServiceUnavailableError`) keep the ordinary check.
 */
export default class NodeEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    const SandboxError = this.global.Error;
    const ordinary = Function.prototype[Symbol.hasInstance];
    Object.defineProperty(SandboxError, Symbol.hasInstance, {
      value(value) {
        return ordinary.call(this, value) || (this === SandboxError && types.isNativeError(value));
      },
    });
  }
}
