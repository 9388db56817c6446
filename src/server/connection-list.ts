import type { Socket } from 'node:net';

const PREVIOUS = Symbol('keygate.previousConnection');
const NEXT = Symbol('keygate.nextConnection');

interface Linked extends Socket {
  [PREVIOUS]?: Linked | undefined;
  [NEXT]?: Linked | undefined;
}

/**
 * The listeners' open connections, so that a shutdown can destroy those the broker does not know of: a
 * doubly-linked list through two properties of each socket, from which a socket unlinks itself on 'close'.
 *
 * Not a Set: a Set that held a socket can keep it reachable for V8's young-generation collector after
 * `delete`: when it grows or compacts, V8 copies the live entries into a new table and leaves them in the
 * old one too (OrderedHashTable::Rehash), which is garbage in the old generation that the scavenger still
 * reads from until the next full GC. Every connection open at such a moment — socket, aedes Client, parser,
 * streams — then outlived the next scavenges and was promoted: a Set of sockets alone took a warm reconnect
 * from 1.1 KB to 2.9 KB promoted (issue 7, target 3; docs/BENCHMARKS.md, session 9). A list leaves nothing
 * behind: a socket that leaves it is unlinked from its neighbours and forgets them.
 */
export class ConnectionList {
  private head: Linked | undefined;
  private count = 0;
  /** One listener for every socket (no closure per connection: heap per connection is a target). */
  private readonly unlink: (this: Socket) => void;

  constructor() {
    const list = this;
    this.unlink = function (this: Socket): void {
      list.remove(this);
    };
  }

  /** Adds an open socket; it leaves the list by itself when it closes. */
  add(socket: Socket): void {
    const linked = socket as Linked;
    const head = this.head;
    linked[PREVIOUS] = undefined;
    linked[NEXT] = head;
    if (head !== undefined) head[PREVIOUS] = linked;
    this.head = linked;
    this.count++;
    socket.on('close', this.unlink);
  }

  /** Removes `socket` (no-op when it is not in the list). */
  remove(socket: Socket): void {
    const linked = socket as Linked;
    const previous = linked[PREVIOUS];
    const next = linked[NEXT];
    if (previous === undefined && this.head !== linked) return;
    if (previous === undefined) this.head = next;
    else previous[NEXT] = next;
    if (next !== undefined) next[PREVIOUS] = previous;
    linked[PREVIOUS] = undefined;
    linked[NEXT] = undefined;
    this.count--;
  }

  /** How many sockets are in the list. */
  get size(): number {
    return this.count;
  }

  /** Destroys every socket in the list (each leaves it when its 'close' follows). */
  destroyAll(): void {
    let socket = this.head;
    while (socket !== undefined) {
      const next = socket[NEXT];
      socket.destroy();
      socket = next;
    }
  }
}
