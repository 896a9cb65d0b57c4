// Starts the spanforge agent before the instrumented app loads (`node -r ./spanforge-start.cjs app.js`);
// configuration comes from the ELASTIC_APM_* environment variables, as with elastic-apm-node.
'use strict';
require('spanforge').start();
