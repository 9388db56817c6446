// keygate inside your own Aedes broker. (This file is compiled by `npm test`; the README shows it.)
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import { createKeygate, createMemoryMessageQueue } from 'keygate';

const keygate = createKeygate({
  redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  prefix: 'keygate:', // where your keys and devices live
  topicRoot: 'losant', // devices publish on losant/<deviceId>/...
});

// Aedes' in-memory message queue, guarded against the recursion that lets a stuck subscriber crash it.
const broker = await Aedes.createBroker({ ...keygate.hooks, mq: createMemoryMessageQueue() });
const server = createServer(broker.handle).listen(1883);

process.once('SIGTERM', () => {
  server.close();
  broker.close(() => void keygate.close());
});
