// The chaos scenario (tests/js/chaos.mjs) against the local S3 (moto behind the fidelity proxy), through the
// chaos proxy: SigV4 signs the proxy's host, which forwards the Host header unchanged.
//   node --test tests/js/chaos-s3.test.mjs                        # the bounded run: one seed, ~300 changes
//   CHAOS_SEEDS=1-10 node --test tests/js/chaos-s3.test.mjs       # a soak
import { chaosSuite } from "./chaos-suite.mjs";
import { s3 } from "./chaos-clouds.mjs";

chaosSuite(s3(), { seed: 202 });
