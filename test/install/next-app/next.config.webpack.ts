import type { NextConfig } from 'next';
import { webpackPlugin } from 'spanforge/bundler';

const nextConfig: NextConfig = {
  serverExternalPackages: ['spanforge'],
  experimental: { serverSourceMaps: true },
  webpack(config, { isServer, nextRuntime }) {
    // The Node.js server build only: browser and Edge bundles have no agent.
    if (isServer && nextRuntime === 'nodejs') config.plugins.push(webpackPlugin());
    return config;
  },
};

export default nextConfig;
