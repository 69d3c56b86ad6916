// Start @20minutes/s3rver through its lib/cli (the npm tarball has no bin
// script). Usage: node --openssl-legacy-provider s3rver.js NPM_DIR [s3rver options]
'use strict';
const path = require('path');
const npmDir = process.argv[2];
const cli = require(path.join(npmDir, 'node_modules', '@20minutes', 's3rver', 'lib', 'cli'));
cli.parseAsync(['node', 's3rver', ...process.argv.slice(3)]).catch((e) => {
  console.error(e);
  process.exit(1);
});
