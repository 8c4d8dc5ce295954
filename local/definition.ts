import { App, type CfnResource } from 'aws-cdk-lib';
import { buildApp } from '../infra/app';
import { HANDLER_NAMES, type HandlerName } from '../workflows/rotation';
import { SCAN_HANDLER_NAMES, type ScanHandlerName } from '../workflows/scan';

/** Every handler a local state machine can call: the rotation's and the scan's. */
export type LocalHandlerName = HandlerName | ScanHandlerName;
const LOCAL_HANDLERS: readonly LocalHandlerName[] = [...HANDLER_NAMES, ...SCAN_HANDLER_NAMES];

/** The ARN local mode gives each handler in place of the deployed function's. */
export function localFunctionArn(name: LocalHandlerName): string {
  return `arn:aws:lambda:us-east-1:000000000000:function:keyrot-${name}`;
}

/** The handler a local function ARN stands for. */
export function handlerOf(arn: string): LocalHandlerName {
  const name = arn.split(':function:keyrot-')[1];
  const handler = LOCAL_HANDLERS.find((candidate) => candidate === name);
  if (!handler) throw new Error(`no local handler for ${arn}`);
  return handler;
}

/** A state as the local engine reads it; a Map nests its own states. */
export interface LocalState {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  ItemProcessor?: { States: Record<string, LocalState> };
}

export interface SynthesizedDefinition {
  definition: { StartAt: string; States: Record<string, LocalState> };
  stateMachineName: string;
}

/**
 * Synthesize the CDK app with the given context settings (bundling skipped: local mode runs the handlers' sources in-process)
 * and return the state machine definition exactly as CloudFormation would receive it, with
 * the Lambda ARNs, which only exist after deployment, replaced by local ones.
 */
export function synthesizeDefinition(
  context: Record<string, string> = {},
  machine: 'Rotation' | 'Scan' = 'Rotation',
): SynthesizedDefinition {
  const { app, stack } = buildApp(new App({ context: { ...context, 'aws:cdk:bundling-stacks': [] } }));
  const template = app.synth().getStackByName(stack.stackName).template as {
    Resources: Record<
      string,
      { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, string> }
    >;
  };
  const construct = machine === 'Rotation' ? stack.stateMachine : stack.scanMachine;
  const machineId = stack.resolve(stack.getLogicalId(construct.node.defaultChild as CfnResource)) as string;
  const resource = template.Resources[machineId];
  if (!resource?.Properties) throw new Error(`the synthesized template has no ${machine} state machine`);

  const functions = { ...stack.functions, ...stack.scanFunctions };
  const handlerByLogicalId = new Map<string, LocalHandlerName>();
  for (const name of LOCAL_HANDLERS) {
    const fn = functions[name].node.defaultChild as CfnResource;
    handlerByLogicalId.set(stack.resolve(stack.getLogicalId(fn)) as string, name);
  }

  const resolve = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const token = value as Record<string, unknown>;
    if (Array.isArray(token['Fn::Join'])) {
      const [separator, parts] = token['Fn::Join'] as [string, unknown[]];
      return parts.map(resolve).join(separator);
    }
    if (Array.isArray(token['Fn::GetAtt'])) {
      const [logicalId, attribute] = token['Fn::GetAtt'] as [string, string];
      const handler = handlerByLogicalId.get(logicalId);
      if (handler && attribute === 'Arn') return localFunctionArn(handler);
    }
    const pseudo: Record<string, string> = {
      'AWS::Partition': 'aws',
      'AWS::Region': 'us-east-1',
      'AWS::AccountId': '000000000000',
    };
    if (typeof token.Ref === 'string' && pseudo[token.Ref]) return pseudo[token.Ref] as string;
    throw new Error(`cannot resolve ${JSON.stringify(value)} in the state machine definition`);
  };

  return {
    definition: JSON.parse(resolve(resource.Properties.DefinitionString)),
    stateMachineName: `${stack.stackName}-${machine}`,
  };
}
