// The package version, compiled in (the runtime cannot read package.json in both CJS and ESM); a test keeps it in sync.
export const VERSION = '0.1.0';
