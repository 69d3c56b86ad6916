// Serve the GCS JSON API of the Firebase storage emulator without the Java
// rules runtime that `firebase emulators:start` needs: build the emulator
// object and its express app directly. Usage: node gcs-emulator.js NPM_DIR HOST PORT
'use strict';
const path = require('path');
const [npmDir, host, port] = process.argv.slice(2);
const base = path.join(npmDir, 'node_modules', 'firebase-tools', 'lib', 'emulator');
const { StorageEmulator } = require(path.join(base, 'storage'));
const { createApp } = require(path.join(base, 'storage', 'server'));
const { EmulatorRegistry } = require(path.join(base, 'registry'));

async function main() {
  const emu = new StorageEmulator({ projectId: 'zarrtraj-test', host, port: +port, auto_download: false });
  // Object metadata and upload URLs are built from the registry.
  EmulatorRegistry.set('storage', emu);
  const app = await createApp('zarrtraj-test', emu);
  const server = app.listen(+port, host, () => console.log(`gcs emulator on ${host}:${port}`));
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
main().catch((e) => { console.error(e); process.exit(1); });
