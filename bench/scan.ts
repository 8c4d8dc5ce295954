/**
 * Benchmark of the scan: `keyrot scan` (the IAM credential report) against the per-user
 * approach other rotation tools take (ListUsers, then ListAccessKeys and GetAccessKeyLastUsed
 * per user and key), over 100, 1,000 and 10,000 users in moto, in the same run. Prints wall
 * time and AWS API calls of each and their ratio. Run with `npm run bench`.
 */
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  GetAccessKeyLastUsedCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListUsersCommand,
} from '@aws-sdk/client-iam';
import { DEFAULT_RULES, scanAccount } from '../handlers/domain/scan';
import { startMoto } from '../local/moto';

const SIZES = (process.env.BENCH_SCAN_SIZES ?? '100,1000,10000').split(',').map(Number);
const moto = await startMoto();
const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };
let calls = 0;
const iam = new IAMClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
iam.middlewareStack.add(
  (next) => (args) => {
    calls += 1;
    return next(args);
  },
  { step: 'initialize', name: 'bench-count' },
);

/** Wall time and calls of one approach. */
async function measure(run: () => Promise<number>): Promise<{ ms: number; calls: number; users: number }> {
  calls = 0;
  const start = performance.now();
  const users = await run();
  return { ms: performance.now() - start, calls, users };
}

/** The per-user way: every user listed, then its keys, then each key's last use. */
async function perUser(): Promise<number> {
  let marker: string | undefined;
  let users = 0;
  do {
    const page = await iam.send(new ListUsersCommand({ Marker: marker, MaxItems: 1000 }));
    for (const user of page.Users ?? []) {
      const keys = await iam.send(new ListAccessKeysCommand({ UserName: user.UserName }));
      for (const key of keys.AccessKeyMetadata ?? []) {
        await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: key.AccessKeyId }));
      }
      users += 1;
    }
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return users;
}

try {
  console.log(
    `keyrot scan benchmark  ${new Date().toISOString()}  node ${process.version}  moto on 127.0.0.1 (signature checks off)`,
  );
  console.log('   users   credential report: ms  calls    per-user: ms   calls    time ratio  call ratio');
  let seeded = 0;
  for (const size of SIZES) {
    // Grow the fleet to `size` users with one key each, 16 requests at a time.
    const pending = Array.from({ length: size - seeded }, (_, i) => `bench-${String(seeded + i).padStart(5, '0')}`);
    for (let i = 0; i < pending.length; i += 16) {
      await Promise.all(
        pending.slice(i, i + 16).map(async (user) => {
          await iam.send(new CreateUserCommand({ UserName: user }));
          await iam.send(new CreateAccessKeyCommand({ UserName: user }));
        }),
      );
    }
    seeded = size;
    const report = await measure(
      async () =>
        (await scanAccount(iam, '123456789012', { ...DEFAULT_RULES, asOf: new Date() }, { pollMs: 100 })).length,
    );
    const listing = await measure(perUser);
    if (report.users !== size || listing.users !== size)
      throw new Error(`saw ${report.users}/${listing.users} of ${size}`);
    console.log(
      [
        String(size).padStart(8),
        report.ms.toFixed(0).padStart(24),
        String(report.calls).padStart(6),
        listing.ms.toFixed(0).padStart(15),
        String(listing.calls).padStart(7),
        `${(listing.ms / report.ms).toFixed(1)}x`.padStart(13),
        `${(listing.calls / report.calls).toFixed(0)}x`.padStart(11),
      ].join(''),
    );
  }
} finally {
  await moto.stop();
}
