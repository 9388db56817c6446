// A stand-in for src/server/http-worker.mjs that dies with exit code 3, as a crashed HTTP worker would, 50 ms
// after it says it listens. (dead-http-worker.mjs dies before.)
import { workerData } from 'node:worker_threads';

const { channel, host } = workerData;
channel.postMessage({ type: 'listening', address: { address: host, family: 'IPv4', port: 9 } });
setTimeout(() => process.exit(3), 50);
