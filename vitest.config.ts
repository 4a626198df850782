import { defineConfig } from 'vitest/config';

// Kernel tests create namespaces and links; running files in parallel on a
// 2-core box makes them slower and noisier, not faster. Unit tests are quick.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['test/vm/**', 'node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    globalSetup: ['test/global-leak-check.ts'],
  },
});
