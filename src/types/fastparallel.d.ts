// fastparallel ships no type declarations; this is the part keygate uses (src/server/message-queue.ts).
declare module 'fastparallel' {
  type Parallel = (that: unknown, toCall: unknown, arg: unknown, done?: () => void) => void;

  interface ParallelOptions {
    /** Results collected and passed to `done` (true by default). */
    results?: boolean;
    /** Called after each call's `done`, once every function has called back. */
    released?: () => void;
  }

  function fastparallel(options?: ParallelOptions): Parallel;
  export default fastparallel;
}
