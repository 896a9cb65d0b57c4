import type { NextConfig } from 'next';

const nextConfig: NextConfig = {
  serverExternalPackages: ['spanforge'],
  experimental: { serverSourceMaps: true },
  turbopack: {
    rules: {
      // The app's own TypeScript in the Node.js server build: not node_modules ('foreign'), not the browser or Edge.
      '*.{ts,tsx}': [{ condition: { all: ['node', { not: 'foreign' }] }, loaders: ['spanforge/loader'] }],
    },
  },
};

export default nextConfig;
