// The baseline for lookup-latency (a child process of the bench): a bare NATS responder that
// answers every request on --subject with the request's own bytes. Prints `ready` once subscribed.
import { connect } from 'nats';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { nats: { type: 'string' }, subject: { type: 'string' } } });
const nc = await connect({ servers: values.nats!, name: 'bench-echo' });
nc.subscribe(values.subject!, { callback: (err, m) => !err && m.respond(m.data) });
await nc.flush();
process.stdout.write('ready\n');
const stop = () => void nc.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
