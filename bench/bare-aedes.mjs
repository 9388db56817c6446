// Bare aedes, no hooks, no persistence options: the baseline that the benchmarks compare keygate with.
// Run as a child process: MQTT_PORT=<port> [MQTT_HOST=127.0.0.1] node bench/bare-aedes.mjs
// BARE_ANNOUNCEMENTS=off: without aedes' $SYS client announcements, which keygate's broker does not publish
// (src/server/sys-announcements.ts); keygate over that baseline is the cost of its hooks and process alone.
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.env.MQTT_PORT ?? 1883);
const host = process.env.MQTT_HOST ?? '127.0.0.1';
const broker = await Aedes.createBroker();
if (process.env.BARE_ANNOUNCEMENTS === 'off') {
  const { dropClientAnnouncements } = await import('../dist/server/sys-announcements.js');
  dropClientAnnouncements(broker, false);
}
const server = createServer(broker.handle);
server.listen(port, host);
process.on('SIGTERM', () => {
  server.close();
  broker.close(() => process.exit(0));
});
