// Runs in a Piscina worker thread: bcrypt verification must not run on the broker's event loop
// (bcryptjs' async mode still computes on the main thread, ~50 ms per cost-10 verify here).
// CommonJS and plain JavaScript so the same file serves the TypeScript sources (tests) and dist/.
'use strict';
const bcrypt = require('bcryptjs');

/** @param {{ secret: string, hash: string }} job @returns {boolean} */
module.exports = function verify(job) {
  try {
    return bcrypt.compareSync(job.secret, job.hash);
  } catch {
    return false;
  }
};
