import { App, Duration, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { KeyrotStack } from './keyrot-stack';
import { KeyrotMemberStack } from './member-stack';

/** The CDK app (cdk.json's entry). Settings come from context: `cdk synth -c keyrot:userPath=/svc/`. */
export function buildApp(app: App = new App()): { app: App; stack: KeyrotStack; member?: KeyrotMemberStack } {
  const context = (name: string): string | undefined => app.node.tryGetContext(`keyrot:${name}`);
  const stack = new KeyrotStack(app, 'Keyrot', {
    managedUserPath: context('userPath'),
    managedUserTag: context('userTag'),
    secretPrefix: context('secretPrefix'),
    approvalTimeout: context('approvalTimeoutSeconds')
      ? Duration.seconds(Number(context('approvalTimeoutSeconds')))
      : undefined,
    memberAccounts:
      context('accounts') === 'organizations' ? 'organizations' : context('accounts')?.split(',').filter(Boolean),
    externalId: context('externalId'),
    scanSchedule: context('scanSchedule'),
    scanConcurrency: context('scanConcurrency') ? Number(context('scanConcurrency')) : undefined,
    archiveRetentionDays: context('archiveRetentionDays') ? Number(context('archiveRetentionDays')) : undefined,
    approvers: context('approvers')
      ?.split(',')
      .map((name) => name.trim())
      .filter(Boolean),
    description: 'keyrot: IAM access key rotation with approval, rollback and audit trail',
  });
  // Member accounts: `cdk deploy KeyrotMember -c keyrot:keyrotAccount=<id> -c keyrot:externalId=<id>` in each.
  const keyrotAccount = context('keyrotAccount');
  const member = keyrotAccount
    ? new KeyrotMemberStack(app, 'KeyrotMember', {
        keyrotAccount,
        externalId: context('externalId') ?? '',
        managedUserPath: context('userPath'),
        managedUserTag: context('userTag'),
        secretPrefix: context('secretPrefix'),
        description: 'keyrot member account: the role keyrot assumes to scan and rotate here',
      })
    : undefined;
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, member };
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  buildApp().app.synth();
}
