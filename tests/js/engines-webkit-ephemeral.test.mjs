// Sync end to end in WebKitGTK's MiniBrowser, an ephemeral data store (Safari's private mode), through
// WebKitWebDriver: two devices both ways, a resumable upload interrupted and resumed, the quota error,
// against the Firebase emulators and the local Supabase (tests/js/engines-sync.mjs).
// Uses the Firebase emulators' fixed ports: run alone under the e2e lock,
//   flock /tmp/tapesync-e2e.lock node --test tests/js/engines-webkit-ephemeral.test.mjs
// Each test is bounded at 60 s: where IndexedDB refuses Blobs a save that hangs fails its test, not the run.
import { engineSuite } from "./engines-sync.mjs";

engineSuite("webkit-ephemeral", { timeout: 60_000 });
