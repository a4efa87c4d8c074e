import { defineConfig } from 'vite';

// The embeddable player: one ES module defining <playcast-player>, built
// after the app into the same dist/ (so emptyOutDir is off).
export default defineConfig({
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    target: 'es2022',
    lib: {
      entry: 'src/element.ts',
      formats: ['es'],
      fileName: () => 'playcast-player.js',
    },
  },
});
