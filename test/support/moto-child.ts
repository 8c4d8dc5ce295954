// A process that starts moto the way keyrot and the tests do, for moto-lifetime.test.ts: it prints
// moto's endpoint and pid as one JSON line, then waits to be killed ("wait") or exits at once
// without calling stop() ("exit").
import { startMoto } from '../../local/moto';

const moto = await startMoto();
process.stdout.write(`${JSON.stringify({ endpoint: moto.endpoint, pid: moto.pid })}\n`);
if (process.argv[2] === 'exit') process.exit(0);
