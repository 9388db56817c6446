// Helpers shared by the benchmarks.
import { connect } from 'node:net';

/** Resolves once something accepts TCP connections on the port (a broker child process is up). */
export async function waitForPort(port) {
  for (let i = 0; i < 400; i++) {
    const socket = connect(port, '127.0.0.1');
    const ok = await new Promise((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('error', () => resolve(false));
    });
    socket.destroy();
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** The median of a list of numbers. */
export function median(values) {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
