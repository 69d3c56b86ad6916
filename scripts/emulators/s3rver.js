// Start @20minutes/s3rver through its lib/cli (the npm tarball has no bin
// script). Usage: node --openssl-legacy-provider s3rver.js NPM_DIR [s3rver options]
//
// One change to the emulator, to behave like S3: an object is replaced only
// when its whole body has arrived (s3rver writes straight into the object
// file, so a client killed mid-PUT left a truncated object where S3 keeps
// the previous one). The body goes to a temporary file renamed into place.
'use strict';
const fs = require('fs');
const path = require('path');
const npmDir = process.argv[2];
const lib = path.join(npmDir, 'node_modules', '@20minutes', 's3rver', 'lib');
const Store = require(path.join(lib, 'stores', 'filesystem'));
const putContent = Store.prototype.putContent;
let seq = 0;
Store.prototype.putContent = async function atomicPutContent(objectPath, content) {
  const tmp = `${objectPath}.upload-${process.pid}-${++seq}`;
  try {
    const res = await putContent.call(this, tmp, content);
    await fs.promises.rename(tmp, objectPath);
    return res;
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
};
const cli = require(path.join(lib, 'cli'));
cli.parseAsync(['node', 's3rver', ...process.argv.slice(3)]).catch((e) => {
  console.error(e);
  process.exit(1);
});
