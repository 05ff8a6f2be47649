// Loaded into the Firebase emulators' process (emulators/start.sh: node --require). The Storage
// emulator of firebase-tools 15.34.2 reads an object's metadata, awaits the rules check, then reads
// its bytes: a DELETE of that object in between leaves no bytes, and sendFileBytes throws on
// `undefined.byteLength`, an unhandled error that ends the whole emulator process (seen in the chaos
// suite, where one device downloads a replaced take while its owner deletes it). The real service
// answers 404 there, as it does for any object that is gone, and so does the emulator with this.
"use strict";
const path = require("node:path");

const shared = require(path.join(__dirname, "../node_modules/firebase-tools/lib/emulator/storage/apis/shared.js"));
const sendFileBytes = shared.sendFileBytes;
if (typeof sendFileBytes !== "function") {
  throw new Error("emulators/storage-fix.cjs: firebase-tools' sendFileBytes moved; check the fix against this version");
}
shared.sendFileBytes = function (md, data, req, res) {
  if (data === undefined || data === null) return res.sendStatus(404);
  return sendFileBytes.call(this, md, data, req, res);
};
