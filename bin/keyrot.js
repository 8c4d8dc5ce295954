#!/usr/bin/env node
// The keyrot command: runs the TypeScript sources through tsx, so no build step is needed.
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(
    `keyrot needs Node.js 22 or newer (this is ${process.version}); run it as "npx keyrot", which uses the project's Node.\n`,
  );
  process.exit(1);
}
const { register } = await import('tsx/esm/api');
register();
await import('../cli/keyrot.ts');
