import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { checkExternalId } from './keyrot-stack';

export interface KeyrotMemberStackProps extends StackProps {
  /** The account keyrot runs in (its handlers assume this role from there). */
  readonly keyrotAccount: string;
  /** The external id keyrot must present (KEYROT_EXTERNAL_ID). */
  readonly externalId: string;
  /** IAM path of the users keyrot may rotate here (`/` for all). */
  readonly managedUserPath?: string;
  /** When set, only users carrying this tag with value `true` may be rotated here (as centrally). */
  readonly managedUserTag?: string;
  /** Secrets Manager name prefix for the users' key secrets here. */
  readonly secretPrefix?: string;
  /** The role's name (KEYROT_MEMBER_ROLE; default KeyrotMember). */
  readonly roleName?: string;
  /** The keyrot stack's name: only its roles (named `<stack>-…` by CloudFormation) may assume this one. */
  readonly keyrotStackName?: string;
}

/**
 * Deployed in each member account: the role keyrot assumes there, trusted by the keyrot
 * account only with the external id, allowed only what a rotation needs on the managed users
 * and their secrets, and reading the credential report for the scan.
 */
export class KeyrotMemberStack extends Stack {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: KeyrotMemberStackProps) {
    super(scope, id, props);
    checkExternalId(props.externalId);
    const path = (props.managedUserPath ?? '/').replace(/^\/|\/$/g, '');
    const prefix = props.secretPrefix ?? 'keyrot/';
    this.role = new iam.Role(this, 'Role', {
      roleName: props.roleName ?? 'KeyrotMember',
      description: 'keyrot: scan and rotate IAM user access keys in this account',
      assumedBy: new iam.AccountPrincipal(props.keyrotAccount).withConditions({
        StringEquals: { 'sts:ExternalId': props.externalId },
        // Not any principal of the keyrot account that may call AssumeRole: keyrot's own roles.
        ArnLike: {
          'aws:PrincipalArn': `arn:${this.partition}:iam::${props.keyrotAccount}:role/${props.keyrotStackName ?? 'Keyrot'}-*`,
        },
      }),
    });
    const users = this.formatArn({
      service: 'iam',
      region: '',
      resource: 'user',
      resourceName: path ? `${path}/*` : '*',
    });
    const secrets = this.formatArn({
      service: 'secretsmanager',
      resource: 'secret',
      resourceName: `${prefix}*`,
      arnFormat: 'arn:aws:service:region:account:resource:resourceName' as never,
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'iam:GetUser',
          'iam:ListUserTags',
          'iam:ListAccessKeys',
          'iam:GetAccessKeyLastUsed',
          'iam:CreateAccessKey',
          'iam:UpdateAccessKey',
          'iam:DeleteAccessKey',
        ],
        resources: [users],
        ...(props.managedUserTag
          ? { conditions: { StringEquals: { [`iam:ResourceTag/${props.managedUserTag}`]: 'true' } } }
          : {}),
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:CreateSecret',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecretVersionStage',
          'secretsmanager:TagResource',
          'secretsmanager:DeleteSecret',
        ],
        resources: [secrets],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['iam:GenerateCredentialReport', 'iam:GetCredentialReport'],
        // The credential report is account-wide: IAM offers no resource to scope it to.
        resources: ['*'],
      }),
    );
    for (const [resource, reason] of [
      [
        `Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:user/${path ? `${path}/*` : '*'}`,
        'Only users under the managed path; their names are not known at deploy time.',
      ],
      [
        `Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${prefix}*`,
        'One secret per rotated user, created at run time under the keyrot prefix.',
      ],
      ['Resource::*', 'GenerateCredentialReport and GetCredentialReport take no resource.'],
    ] as const) {
      Validations.of(this.role).acknowledge({ id: `AwsSolutions-IAM5[${resource}]`, reason });
    }
    new CfnOutput(this, 'MemberRoleArn', { value: this.role.roleArn });
  }
}
