// The chaos scenario (tests/js/chaos.mjs) against the local Supabase (Storage + TUS), through the chaos proxy.
//   node --test tests/js/chaos-supabase.test.mjs                  # the bounded run: one seed, ~300 changes
//   CHAOS_SEEDS=1-10 CHAOS_CHANGES=600 node --test tests/js/chaos-supabase.test.mjs   # a soak
import { chaosSuite } from "./chaos-suite.mjs";
import { supabase } from "./chaos-clouds.mjs";

chaosSuite(supabase(), { seed: 101 });
