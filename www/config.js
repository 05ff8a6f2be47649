// Where the demo's cloud is. `make demo` starts the Firebase Auth and Storage emulators on these ports
// (emulators/start.sh). For a real Firebase project, set the production URLs below, your web API key and
// your bucket, and deploy storage.rules.
// Which cloud the demo syncs with: "firebase" (the default), "supabase" (`BACKEND=supabase make demo` opens
// /www/?backend=supabase) or "s3" (`BACKEND=s3 make demo`, /www/?backend=s3); the choice is kept for reloads,
// `?backend=firebase` switches back.
const BACKEND_KEY = "tapesync-demo/backend";
const BACKENDS = ["firebase", "supabase", "s3"];
function chooseBackend() {
  try {
    const asked = new URLSearchParams(globalThis.location?.search ?? "").get("backend");
    if (BACKENDS.includes(asked)) localStorage.setItem(BACKEND_KEY, asked);
    const kept = localStorage.getItem(BACKEND_KEY);
    return BACKENDS.includes(kept) ? kept : "firebase";
  } catch {
    return "firebase";   // no localStorage (a worker): the default
  }
}
export const BACKEND = chooseBackend();

export const CONFIG = {
  // Firebase Auth REST API (Identity Toolkit and Secure Token). Production:
  // "https://identitytoolkit.googleapis.com/v1" and "https://securetoken.googleapis.com/v1".
  identityToolkitUrl: "http://127.0.0.1:9099/identitytoolkit.googleapis.com/v1",
  secureTokenUrl: "http://127.0.0.1:9099/securetoken.googleapis.com/v1",
  // The emulator accepts any key; production needs the project's web API key.
  apiKey: "demo-key",

  // Firebase Storage. Production: baseUrl "https://firebasestorage.googleapis.com" (FirebaseRemote's default).
  storageBaseUrl: "http://127.0.0.1:9199",
  bucket: "demo-tapesync.appspot.com",
  // Each user syncs into their own folder, which storage.rules keeps private.
  prefix: (uid) => `users/${uid}/recordings`,

  // Supabase (the local Supabase of emulators/supabase under `BACKEND=supabase make demo`). For a real project:
  // its URL and anon key, a private bucket, and supabase/storage-policies.sql run in its SQL editor. The anon key
  // below is the Supabase CLI's well-known local demo key.
  supabase: {
    url: "http://127.0.0.1:54321",
    anonKey: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0",
    bucket: "recordings",
  },

  // S3 (the local S3 of emulators/s3 under `BACKEND=s3 make demo`), in tapesync's presign mode: the demo server
  // signs each request (scripts/s3-sign.mjs) and tells where the S3 is; the page holds no S3 credentials. For a
  // real bucket: your backend's sign route, s3/cors.json on the bucket, and the checks of
  // s3/presign-backend.example.mjs with the user id taken from your session.
  s3: {
    configUrl: "/s3-config",   // GET: { endpoint, region, bucket, users }
    signUrl: "/sign",          // POST the presign request, header x-demo-user: the URL to call, as text
  },

  // Auto-sync: at start, when the network returns, when the app becomes visible, after each local change
  // (tapesync's onChange, on by default), and every hour.
  syncIntervalMs: 60 * 60 * 1000,
  // MediaRecorder delivers a chunk every second; each is stored as it arrives.
  timesliceMs: 1000,
};
