// A stand-in for src/server/http-worker.mjs that exits with code 3 before it listens.
process.exit(3);
