// Where the demo's cloud is. `make demo` starts the Firebase Auth and Storage emulators on these ports
// (emulators/start.sh). For a real Firebase project, set the production URLs below, your web API key and
// your bucket, and deploy storage.rules.
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

  // Auto-sync: at start, when the network returns, when the app becomes visible, after each local change
  // (tapesync's onChange, on by default), and every hour.
  syncIntervalMs: 60 * 60 * 1000,
  // MediaRecorder delivers a chunk every second; each is stored as it arrives.
  timesliceMs: 1000,
};
