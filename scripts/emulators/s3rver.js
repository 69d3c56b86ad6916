// Start @20minutes/s3rver through its lib/cli (the npm tarball has no bin
// script). Usage: node --openssl-legacy-provider s3rver.js NPM_DIR [s3rver options]
//
// One change to the emulator, to behave like S3: an object is replaced only
// when its whole body has arrived (s3rver writes straight into the object
// file, so a client killed mid-PUT left a truncated object where S3 keeps
// the previous one). The body goes to a temporary file renamed into place.
//
// With ZT_S3RVER_SUFFIX_RANGES=1, a second one: suffix ranges ("bytes=-N",
// the last N bytes) are answered as S3 answers them. s3rver parses them as
// "bytes=0-N", which zarr-python 3 and tensorstore (shard indexes at the end)
// cannot work around; zarrtraj detects it and falls back to explicit ranges,
// which the default keeps exercised. The benchmarks of independent readers set it.
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
if (process.env.ZT_S3RVER_SUFFIX_RANGES === '1') {
  const objectCtrl = require(path.join(lib, 'controllers', 'object'));
  const getObject = objectCtrl.getObject;
  objectCtrl.getObject = async function suffixGetObject(ctx) {
    const m = /^bytes=-(\d+)$/.exec(ctx.headers.range || '');
    if (m) {
      const meta = await ctx.store.getMetadata(ctx.params.bucket, ctx.params.key).catch(() => null);
      const size = meta ? Number(meta['content-length']) : NaN;
      if (Number.isFinite(size)) {
        const n = Number(m[1]);
        if (size === 0) delete ctx.headers.range;
        else if (n === 0) ctx.headers.range = `bytes=${size}-`; // unsatisfiable, as on S3
        else ctx.headers.range = `bytes=${Math.max(0, size - n)}-${size - 1}`;
      }
    }
    return getObject.call(this, ctx);
  };
}
const cli = require(path.join(lib, 'cli'));
cli.parseAsync(['node', 's3rver', ...process.argv.slice(3)]).catch((e) => {
  console.error(e);
  process.exit(1);
});
