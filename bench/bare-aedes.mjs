// Bare aedes, no hooks, no persistence options: the baseline that bench/throughput.mjs compares keygate
// with. Run as a child process: MQTT_PORT=<port> [MQTT_HOST=127.0.0.1] node bench/bare-aedes.mjs
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.env.MQTT_PORT ?? 1883);
const host = process.env.MQTT_HOST ?? '127.0.0.1';
const broker = await Aedes.createBroker();
const server = createServer(broker.handle);
server.listen(port, host);
process.on('SIGTERM', () => {
  server.close();
  broker.close(() => process.exit(0));
});
