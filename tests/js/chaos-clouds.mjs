// The three local clouds as the chaos, crash and fuzz suites use them: start and stop, a fresh account (a folder
// of the bucket the remote may write), the remote's options as the page takes them, and a listing of the audio
// objects straight from the cloud (never through the chaos proxy: the checks must not meet faults).
//
//   const cloud = clouds.supabase();
//   await cloud.start();                 // the cloud itself (Firebase: the shared emulators, under the e2e lock)
//   const account = await cloud.account();
//   account.remote(proxy.url)            // what window.chaosRemote(options) takes in the page
//   await account.blobs()                // ["blobs/<id>/<hash>", ...] under the account's prefix
//   await cloud.stop();
import assert from "node:assert/strict";
import { startEmulators, stopEmulators, signUp as firebaseSignUp, BUCKET as FIREBASE_BUCKET, STORAGE_URL } from "../../emulators/harness.mjs";
import { ANON_KEY, BUCKET as SUPABASE_BUCKET, signUp as supabaseSignUp, startSupabase, stopSupabase } from "../../emulators/supabase/harness.mjs";
import { startS3 } from "../../emulators/s3/harness.mjs";

let accounts = 0;

/** The Firebase Storage emulator (Auth signs users up; Storage is what the page talks to). */
export function firebase() {
  return {
    name: "firebase",
    target: STORAGE_URL,
    // The emulator appends every resumable chunk it is sent, whatever its X-Goog-Upload-Offset. A POST whose
    // reused connection is reset before any answer is resent by Chromium itself (the page never knows), so a
    // chunk whose answer was lost that way is stored twice and the object is corrupt (seen with seed 2:
    // docs/reliability.md). Its answers are lost after their headers instead, which browsers do not resend.
    proxyOptions: { lostAfterHeaders: true },
    start: () => startEmulators(),
    stop: () => stopEmulators(),
    async account() {
      const user = await firebaseSignUp();
      const prefix = `users/${user.uid}/recordings`;
      return {
        prefix,
        remote: (url) => ({ kind: "firebase", baseUrl: url, bucket: FIREBASE_BUCKET, prefix, token: user.idToken }),
        async blobs() {
          const names = [];
          let pageToken = "";
          do {
            const q = `prefix=${encodeURIComponent(`${prefix}/blobs/`)}${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ""}`;
            const res = await fetch(`${STORAGE_URL}/v0/b/${FIREBASE_BUCKET}/o?${q}`, { headers: { Authorization: `Firebase ${user.idToken}` } });
            assert.equal(res.status, 200);
            const body = await res.json();
            for (const item of body.items ?? []) names.push(item.name.slice(prefix.length + 1));
            pageToken = body.nextPageToken ?? "";
          } while (pageToken);
          return names.sort();
        },
        /** Open resumable sessions are not listable on the emulator. */
        async openUploads() {
          return null;
        },
      };
    },
  };
}

/** The local Supabase (Storage with TUS, Auth), on a free port in this process. */
export function supabase() {
  let url;
  return {
    name: "supabase",
    get target() {
      return url;
    },
    async start() {
      ({ url } = await startSupabase({ port: 0 }));
    },
    stop: () => stopSupabase(),
    async account() {
      const user = await supabaseSignUp();
      const prefix = `users/${user.id}/recordings`;
      const headers = { apikey: ANON_KEY, authorization: `Bearer ${user.accessToken}`, "content-type": "application/json" };
      return {
        prefix,
        remote: (proxyUrl) => ({ kind: "supabase", url: proxyUrl, apikey: ANON_KEY, bucket: SUPABASE_BUCKET, prefix, token: user.accessToken }),
        async blobs() {
          const names = [];
          let cursor;
          do {
            const res = await fetch(`${url}/storage/v1/object/list-v2/${SUPABASE_BUCKET}`, {
              method: "POST",
              headers,
              body: JSON.stringify({ prefix: `${prefix}/blobs/`, limit: 1000, with_delimiter: false, cursor }),
            });
            assert.equal(res.status, 200, await res.clone().text());
            const body = await res.json();
            for (const o of body.objects) names.push(o.name.slice(prefix.length + 1));
            cursor = body.hasNext ? body.nextCursor : undefined;
          } while (cursor);
          return names.sort();
        },
        async openUploads() {
          return null;
        },
      };
    },
  };
}

/** The local S3 (moto behind the fidelity proxy), on free ports; each account is a folder of alice's. */
export function s3() {
  let server;
  return {
    name: "s3",
    get target() {
      return server.endpoint;
    },
    get server() {
      return server;
    },
    async start() {
      server = await startS3({ port: 0, adminPort: 0, motoPort: 0 });
    },
    stop: () => server?.stop(),
    async account() {
      const alice = server.users.alice;
      const prefix = `${alice.prefix}chaos-${process.pid}-${++accounts}`;
      const { S3Client, ListObjectsV2Command, ListMultipartUploadsCommand } = await import("@aws-sdk/client-s3");
      const client = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: alice });
      return {
        prefix,
        remote: (url) => ({ kind: "s3", endpoint: url, region: server.region, bucket: server.bucket, prefix, accessKeyId: alice.accessKeyId, secretAccessKey: alice.secretAccessKey }),
        async blobs() {
          const names = [];
          let token;
          do {
            const out = await client.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: `${prefix}/blobs/`, ContinuationToken: token }));
            for (const c of out.Contents ?? []) names.push(c.Key.slice(prefix.length + 1));
            token = out.IsTruncated ? out.NextContinuationToken : undefined;
          } while (token);
          return names.sort();
        },
        /** Multipart uploads still open under the prefix (abandoned ones: s3/lifecycle.json's rule). */
        async openUploads() {
          // Listing uploads is a bucket-level right users do not have (s3/iam-policy.json): as the admin.
          const admin = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: server.admin });
          const out = await admin.send(new ListMultipartUploadsCommand({ Bucket: server.bucket, Prefix: `${prefix}/` }));
          return (out.Uploads ?? []).map((u) => u.Key.slice(prefix.length + 1));
        },
      };
    },
  };
}

export const clouds = { firebase, supabase, s3 };

/**
 * Defines `window.chaosRemote(options)` in the page: the remote of `options.kind`, built as the README shows
 * (the token or keys given as functions, never stored).
 */
export function installRemote(page) {
  return page.evaluate(() => {
    window.chaosRemote = (c) => {
      const timeoutMs = c.timeoutMs;
      if (c.kind === "firebase") {
        return new tapesync.FirebaseRemote({ bucket: c.bucket, prefix: c.prefix, getToken: async () => c.token, baseUrl: c.baseUrl, timeoutMs });
      }
      if (c.kind === "supabase") {
        return new tapesync.SupabaseRemote({ url: c.url, apikey: c.apikey, bucket: c.bucket, prefix: c.prefix, getToken: async () => c.token, timeoutMs });
      }
      return new tapesync.S3Remote({
        endpoint: c.endpoint, region: c.region, bucket: c.bucket, prefix: c.prefix, timeoutMs,
        credentials: () => ({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }),
      });
    };
  });
}
