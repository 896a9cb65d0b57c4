// `node -r spanforge/start app.js` (or `import 'spanforge/start'` first thing in an ES module app):
// starts the agent with the configuration from the ELASTIC_APM_* environment, as elastic-apm-node/start
// does. Never throws: a broken configuration is logged and the agent stays inactive.
import { start } from './index.js';

start();
