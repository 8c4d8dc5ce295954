import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { CfnResource } from 'aws-cdk-lib';
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

const ROOT = path.resolve(import.meta.dirname, '..');
/** Where synthesized definitions are kept, by the hash of everything that shapes them. */
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'keyrot', 'definitions');
/** The sources a synthesis reads: the app, the stacks, the workflows, the handlers they name, this file. */
const SHAPING = ['infra', 'workflows', 'handlers', 'local/definition.ts', 'cdk.json'];

/**
 * What a synthesized definition depends on, as one SHA-256: the settings, every source file
 * the CDK app reads, and the versions of the libraries that synthesize it. Any change to any of
 * them is another key, so a kept definition is never stale.
 */
function cacheKey(context: Record<string, string>, machine: string): string {
  const hash = createHash('sha256').update(JSON.stringify({ context, machine, env: process.env.CDK_CONTEXT_JSON }));
  const files = SHAPING.flatMap((entry) => {
    const full = path.join(ROOT, entry);
    return entry.includes('.')
      ? [full]
      : readdirSync(full, { recursive: true, encoding: 'utf8' }).map((file) => path.join(full, file));
  });
  for (const file of files.filter((name) => /\.(ts|json)$/.test(name)).sort()) {
    hash.update(`${path.relative(ROOT, file)}\0`).update(readFileSync(file));
  }
  for (const library of ['aws-cdk-lib', 'cdk-nag', 'constructs']) {
    hash.update(readFileSync(path.join(ROOT, 'node_modules', library, 'package.json')));
  }
  return hash.digest('hex');
}

/**
 * The state machine definition exactly as CloudFormation would receive it (see `synthesize`),
 * kept on disk by what shapes it: a synthesis costs seconds of CPU, and every local run, test
 * file and CLI process would otherwise repeat the same one.
 */
export async function synthesizeDefinition(
  context: Record<string, string> = {},
  machine: 'Rotation' | 'Scan' = 'Rotation',
): Promise<SynthesizedDefinition> {
  const file = path.join(CACHE, `${cacheKey(context, machine)}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SynthesizedDefinition;
  } catch {
    // Not synthesized with these sources and settings yet.
  }
  const synthesized = await synthesize(context, machine);
  try {
    mkdirSync(CACHE, { recursive: true });
    // Written aside and renamed: a process reading it meanwhile sees all of it or none.
    const partial = `${file}.${process.pid}`;
    writeFileSync(partial, JSON.stringify(synthesized));
    renameSync(partial, file);
  } catch {
    // A read-only install synthesizes every time; nothing else changes.
  }
  return synthesized;
}

/**
 * Synthesize the CDK app with the given context settings (bundling skipped: local mode runs the handlers' sources in-process)
 * and return the state machine definition exactly as CloudFormation would receive it, with
 * the Lambda ARNs, which only exist after deployment, replaced by local ones.
 */
async function synthesize(
  context: Record<string, string>,
  machine: 'Rotation' | 'Scan',
): Promise<SynthesizedDefinition> {
  // Loaded only when a synthesis is needed: the CDK app takes seconds to import.
  const [{ App }, { buildApp }] = await Promise.all([import('aws-cdk-lib'), import('../infra/app')]);
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
