// The chaos scenario (tests/js/chaos.mjs) against the Firebase Storage emulator, through the chaos proxy. It
// starts the shared emulators (fixed ports): run it under the e2e lock,
//   flock /tmp/tapesync-e2e.lock node --test tests/js/chaos-firebase.test.mjs
//   CHAOS_SEEDS=1-10 flock /tmp/tapesync-e2e.lock node --test tests/js/chaos-firebase.test.mjs   # a soak
import { chaosSuite } from "./chaos-suite.mjs";
import { firebase } from "./chaos-clouds.mjs";

chaosSuite(firebase(), { seed: 303 });
