import { resolve } from 'node:path';

/** The repository's root directory. dist/ is built once per run by the global setup. */
export const repoRoot = resolve(import.meta.dirname, '../..');
