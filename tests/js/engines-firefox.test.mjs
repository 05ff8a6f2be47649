// Sync end to end in Firefox ESR, headless, through geckodriver: two devices both ways, a resumable
// upload interrupted and resumed, the quota error, against the Firebase emulators and the local Supabase (tests/js/engines-sync.mjs).
// Uses the Firebase emulators' fixed ports: run alone under the e2e lock,
//   flock /tmp/tapesync-e2e.lock node --test tests/js/engines-firefox.test.mjs
import { engineSuite } from "./engines-sync.mjs";

engineSuite("firefox");
