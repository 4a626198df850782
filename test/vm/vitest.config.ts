import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Vitest config of the VM lane (test/vm/lane.sh runs it inside the guest, a
// stock Debian kernel under qemu, often TCG: slow CPU, node_modules over 9p).
// The host root is read-only under a tmpfs overlay there; caches go to /tmp.
export default defineConfig({
  cacheDir: join(tmpdir(), 'visp-vm-vite'),
  test: {
    include: ['test/vm/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});
