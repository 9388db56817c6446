// A stand-in for src/server/http-worker.mjs that throws (an uncaught error, as a bug in the worker would) 50 ms
// after it says it listens. (dying-http-worker.mjs exits instead.)
import { workerData } from 'node:worker_threads';

const { channel, host } = workerData;
channel.postMessage({ type: 'listening', address: { address: host, family: 'IPv4', port: 9 } });
setTimeout(() => {
  throw new Error('worker bug');
}, 50);
