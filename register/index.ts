// `node --import spanforge/register app.js` / `node -r spanforge/register app.js`: installs the load
// hooks that instrument the app's own modules (install.ts), with options from $SPANFORGE_OPTIONS.
import { register } from './install.js';

register();
