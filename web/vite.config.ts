// Vite build and dev-server configuration for the Burrow dashboard, plus Vitest settings.
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

const backend = 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      // Burrow refuses cookie-authenticated changes from a foreign Origin; in
      // development the dev server stands in for the platform's own origin.
      '/api': {
        target: backend,
        headers: { origin: backend },
        // Workspace terminals are WebSockets.
        ws: true,
      },
      '/healthz': backend,
      '/metrics': backend,
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
  },
});
