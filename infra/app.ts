import { App, Duration, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { KeyrotStack } from './keyrot-stack';

/** The CDK app (cdk.json's entry). Settings come from context: `cdk synth -c keyrot:userPath=/svc/`. */
export function buildApp(app: App = new App()): { app: App; stack: KeyrotStack } {
  const context = (name: string): string | undefined => app.node.tryGetContext(`keyrot:${name}`);
  const stack = new KeyrotStack(app, 'Keyrot', {
    managedUserPath: context('userPath'),
    managedUserTag: context('userTag'),
    secretPrefix: context('secretPrefix'),
    approvalTimeout: context('approvalTimeoutSeconds')
      ? Duration.seconds(Number(context('approvalTimeoutSeconds')))
      : undefined,
    archiveRetentionDays: context('archiveRetentionDays') ? Number(context('archiveRetentionDays')) : undefined,
    description: 'keyrot: IAM access key rotation with approval, rollback and audit trail',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  buildApp().app.synth();
}
