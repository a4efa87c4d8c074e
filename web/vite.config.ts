import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// Two pages: the app (index.html) and the bare baseline client the latency
// benchmarks compare against (baseline.html). Output names carry no hash: the
// service embeds dist/ in its binary and serves every file with `no-cache`.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    rollupOptions: {
      input: { app: 'index.html', baseline: 'baseline.html' },
      output: {
        entryFileNames: '[name].js',
        chunkFileNames: '[name].js',
        assetFileNames: '[name][extname]',
      },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
