import { defineConfig } from 'vitest/config';

const jsonReport = process.env.VITEST_JSON_REPORT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One redis-server for the whole run (started only when REDIS_URL is unset); every test file uses
    // its own random key prefix, so files run in parallel without sharing keys.
    globalSetup: ['test/support/global-setup.ts'],
    // Brokers spawned as processes (demo, bench, `npm start`) would all want HTTP_PORT's default 9102 at
    // once: tests take any free port.
    env: { HTTP_PORT: '0' },
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // .ci/run asks for a JSON report too, to print a plain "N passed, N failed" line.
    reporters: jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'],
  },
});
