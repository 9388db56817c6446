/**
 * The listeners' list of open connections (what a shutdown destroys): real sockets over loopback. A socket
 * leaves the list by itself when it closes, from wherever it sits in it.
 */
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionList } from '../../src/server/connection-list.js';

let server: Server;
let list: ConnectionList;
/** The server's side of each connection, in the order they were accepted. */
let accepted: Socket[];
const peers: Socket[] = [];

beforeEach(async () => {
  list = new ConnectionList();
  accepted = [];
  server = createServer((socket) => {
    list.add(socket);
    accepted.push(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

afterEach(async () => {
  for (const peer of peers.splice(0)) peer.destroy();
  list.destroyAll();
  await new Promise((resolve) => server.close(resolve));
});

/** Opens `n` connections and waits until the server has accepted them all. */
async function open(n: number): Promise<Socket[]> {
  const { port } = server.address() as AddressInfo;
  const before = accepted.length;
  for (let i = 0; i < n; i++) {
    const peer = connect(port, '127.0.0.1');
    peer.on('error', () => {});
    peers.push(peer);
  }
  while (accepted.length < before + n) await new Promise((resolve) => setTimeout(resolve, 5));
  return accepted.slice(before);
}

/** Resolves on the socket's 'close' (listen before closing it: `closed` turns true before 'close' is emitted). */
function closing(socket: Socket): Promise<unknown> {
  return once(socket, 'close');
}

async function destroy(socket: Socket): Promise<void> {
  const closed = closing(socket);
  socket.destroy();
  await closed;
}

describe('ConnectionList', () => {
  it('counts open connections; each leaves when it closes, first, last or in the middle', async () => {
    const [a, b, c, d] = await open(4);
    expect(list.size).toBe(4);
    // The list is newest first: d is its head, a its tail.
    for (const socket of [b, d, a] as Socket[]) await destroy(socket);
    expect(list.size).toBe(1);
    // The one left is still reached by destroyAll.
    const last = closing(c as Socket);
    list.destroyAll();
    await last;
    expect(list.size).toBe(0);
  });

  it('destroyAll closes every open connection, and the list is empty after', async () => {
    const sockets = await open(5);
    const all = Promise.all(sockets.map(closing));
    list.destroyAll();
    await all;
    expect(sockets.every((socket) => socket.destroyed)).toBe(true);
    expect(list.size).toBe(0);
    // Connections opened after still join and leave it.
    const [late] = await open(1);
    expect(list.size).toBe(1);
    await destroy(late as Socket);
    expect(list.size).toBe(0);
  });

  it('removing a socket it does not hold, or one already gone, changes nothing', async () => {
    const [a, b] = await open(2);
    list.remove(a as Socket);
    expect(list.size).toBe(1);
    list.remove(a as Socket);
    expect(list.size).toBe(1);
    // a's own 'close' later finds it gone already.
    await destroy(a as Socket);
    expect(list.size).toBe(1);
    list.remove(new Socket());
    expect(list.size).toBe(1);
    const last = closing(b as Socket);
    list.destroyAll();
    await last;
    expect(list.size).toBe(0);
  });
});
