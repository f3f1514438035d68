import path from 'node:path';

import { defineConfig } from 'vitest/config';

// Unit tests of the frontend: jsdom, @testing-library/react, the real @grafana/* packages.
export default defineConfig({
  oxc: { jsx: { runtime: 'automatic' } },
  resolve: {
    alias: { 'react-inlinesvg': path.resolve(import.meta.dirname, 'src/test/react-inlinesvg.tsx') },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    css: false,
    // @grafana/ui imports CSS files from its ESM build: let Vite transform those packages.
    server: { deps: { inline: [/@grafana\//] } },
    testTimeout: 20000,
  },
});
