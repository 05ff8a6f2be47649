// The local S3 for tapesync's tests and demo: moto (SigV4 + IAM enforced) behind the fidelity proxy.
//
//   import { startS3 } from "../../emulators/s3/harness.mjs";
//   let s3;
//   before(async () => { s3 = await startS3({ port: 0, adminPort: 0, motoPort: 0 }); }, { timeout: 600_000 });
//   after(() => s3?.stop());
//   // s3.endpoint, s3.region, s3.bucket, s3.users.alice.{accessKeyId, secretAccessKey, roleArn, prefix}
//
// As a script (the demo): `node emulators/s3/harness.mjs [--port 9000] [--admin-port 9001] [--moto-port 5000]`
// runs in the foreground, prints the info JSON on stdout and stops on SIGINT/SIGTERM.
//
// Each startS3() owns its own moto process and proxy (port 0 = any free port, so test files running in
// parallel do not collide); moto ends with the process that started it, however it ends (moto_main.py).

import path from "node:path";
import { fileURLToPath } from "node:url";
import { startAdmin } from "./admin.mjs";
import { CredentialStore } from "./auth.mjs";
import { configureMoto, contentMd5, ensureMoto, freePort, shippedDocuments, startMoto, testCorsRules } from "./moto.mjs";
import { corsXml } from "./cors.mjs";
import { FidelityProxy } from "./proxy.mjs";
import { sha256Hex, signHeaders, uriEncode } from "./sigv4.mjs";
import { allTags, tagText } from "./xml.mjs";

export const DEFAULTS = {
  port: 9000,
  adminPort: 9001,
  motoPort: 5000,
  region: "us-east-1",
  bucket: "tapesync-test",
  users: ["alice", "bob"],
  // Added to the shipped rules' AllowedOrigins: test pages are served from loopback on any port.
  allowedOrigins: ["http://127.0.0.1:*", "http://localhost:*"],
};

export class S3TestServer {
  constructor(fields) {
    Object.assign(this, fields);
  }

  /** What a client needs, as JSON (also GET /info on the admin port). */
  info() {
    const users = Object.fromEntries(
      Object.entries(this.users).map(([name, u]) => [name, { name, accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey, arn: u.arn, roleArn: u.roleArn, prefix: u.prefix }]),
    );
    return {
      endpoint: this.endpoint,
      adminUrl: this.adminUrl,
      motoUrl: this.motoUrl,
      region: this.region,
      bucket: this.bucket,
      forcePathStyle: true,
      users,
      admin: { accessKeyId: this.admin.accessKeyId, secretAccessKey: this.admin.secretAccessKey },
    };
  }

  /**
   * AssumeRole temporary credentials for `user` (through the endpoint, as a client would get them):
   * resolves { accessKeyId, secretAccessKey, sessionToken, expiration (ISO) }. The test server honours any
   * `durationSeconds` of 1 or more (AWS: at least 900) so tests can watch credentials expire.
   */
  async assumeRole(user, { durationSeconds = 3600, sessionName = `${user}-${Date.now()}` } = {}) {
    const u = this.users[user];
    if (!u) throw new Error(`no test user ${user}`);
    const body = new URLSearchParams({
      Action: "AssumeRole",
      Version: "2011-06-15",
      RoleArn: u.roleArn,
      RoleSessionName: sessionName,
      DurationSeconds: String(durationSeconds),
    }).toString();
    const url = new URL("/", this.endpoint);
    const headers = signHeaders({
      method: "POST",
      url,
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      payloadHash: sha256Hex(body),
      credentials: u,
      region: this.region,
      service: "sts",
    });
    delete headers.host;
    const res = await fetch(url, { method: "POST", headers, body });
    const text = await res.text();
    if (!res.ok) throw new Error(`AssumeRole ${user}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return {
      accessKeyId: tagText(text, "AccessKeyId"),
      secretAccessKey: tagText(text, "SecretAccessKey"),
      sessionToken: tagText(text, "SessionToken"),
      expiration: tagText(text, "Expiration"),
    };
  }

  /** Ends sessions now, by { accessKeyId } or all of { user }'s; returns how many. */
  expireSessions(which) {
    return this.store.expire(which, this.proxy.now());
  }

  /**
   * Sets the server's clock `ms` ahead of the machine's (negative: behind), as a device whose clock is off
   * by -ms sees S3: beyond 15 minutes its signed requests get RequestTimeTooSkewed, with the server's time
   * in ServerTime and Date. reset() sets it back to 0.
   */
  setClockOffset(ms) {
    this.proxy.clockOffsetMs = Number(ms) || 0;
  }

  /** Queues a fault on the endpoint (shape in admin.mjs); e.g. fault({ times: 2, retryAfter: 1 }) = 503 SlowDown. */
  fault(spec) {
    return this.proxy.addFault(spec);
  }

  clearFaults() {
    this.proxy.faults.length = 0;
  }

  /** The requests the endpoint saw since sequence number `since` (see admin.mjs for the fields). */
  requests({ since = 0 } = {}) {
    return this.proxy.requests.filter((r) => r.seq > since);
  }

  /** The sequence number of the last request seen (pass it as `since` later). */
  lastRequest() {
    return this.proxy.sequence;
  }

  clearRequests() {
    this.proxy.requests.length = 0;
  }

  /** Empties the bucket (objects and multipart uploads), restores its CORS rules, drops faults and the log. */
  async reset() {
    const call = async (method, p, body = Buffer.alloc(0), headers = {}) => {
      const res = await this.proxy.signedMotoRequest({ method, path: p, body, headers, credentials: this.admin });
      if (res.status >= 300) throw new Error(`reset: ${method} ${p}: HTTP ${res.status} ${res.body.toString("utf8").slice(0, 300)}`);
      return res;
    };
    // Paths encoded exactly as SigV4 canonicalises them, so moto's check of the signature agrees.
    const objectPath = (key) => `/${this.bucket}/${uriEncode(key, true)}`;
    for (let token; ;) {
      const res = await call("GET", `/${this.bucket}?list-type=2${token ? `&continuation-token=${uriEncode(token)}` : ""}`);
      const xml = res.body.toString("utf8");
      for (const item of allTags(xml, "Contents")) {
        const key = tagText(item, "Key");
        await call("DELETE", objectPath(key));
      }
      token = tagText(xml, "NextContinuationToken");
      if (!token) break;
    }
    const uploads = (await call("GET", `/${this.bucket}?uploads`)).body.toString("utf8");
    for (const upload of allTags(uploads, "Upload")) {
      const key = tagText(upload, "Key");
      const id = tagText(upload, "UploadId");
      await call("DELETE", `${objectPath(key)}?uploadId=${uriEncode(id)}`);
    }
    const cors = Buffer.from(corsXml(testCorsRules(shippedDocuments().cors, this.allowedOrigins)));
    await call("PUT", `/${this.bucket}?cors`, cors, { "content-type": "application/xml", "content-md5": contentMd5(cors) });
    this.proxy.forgetCors();
    this.proxy.maxSessionSeconds = undefined;
    this.proxy.clockOffsetMs = 0;
    this.clearFaults();
    this.clearRequests();
  }

  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    await this.proxy.close();
    await new Promise((r) => this.adminServer.close(() => r()));
    this.adminServer.closeAllConnections?.();
    if (this.moto.process.exitCode === null) {
      const exited = new Promise((r) => this.moto.process.once("exit", r));
      this.moto.process.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    }
  }
}

/**
 * Installs moto if needed, starts it and the proxy, configures bucket, CORS, users and roles, enforces
 * SigV4 + IAM. Options (all optional): port (endpoint, 9000), adminPort (9001), motoPort (5000), each 0 for
 * any free port; region, bucket, users (names), allowedOrigins (added to the shipped CORS rules).
 */
export async function startS3(options = {}) {
  const o = { ...DEFAULTS, ...options };
  const started = Date.now();
  const python = await ensureMoto();
  const motoPort = o.motoPort === 0 ? await freePort() : o.motoPort;
  const moto = await startMoto(python, motoPort);
  try {
    const config = await configureMoto(moto.url, { region: o.region, bucket: o.bucket, userNames: o.users, allowedOrigins: o.allowedOrigins });
    const store = new CredentialStore();
    store.addUser(config.admin.name, config.admin, config.admin.policies);
    for (const user of Object.values(config.users)) store.addUser(user.name, user, user.policies);
    const proxy = new FidelityProxy({ motoUrl: moto.url, region: o.region, store, admin: config.admin, roles: config.roles });
    const port = await proxy.listen(o.port);
    const server = new S3TestServer({
      endpoint: `http://127.0.0.1:${port}`,
      motoUrl: moto.url,
      region: o.region,
      bucket: o.bucket,
      allowedOrigins: o.allowedOrigins,
      users: config.users,
      admin: config.admin,
      accountId: config.accountId,
      store,
      proxy,
      moto,
      startedInMs: 0,
    });
    const admin = await startAdmin(server, o.adminPort).catch(async (err) => {
      await proxy.close();
      throw err;
    });
    server.adminServer = admin.server;
    server.adminUrl = `http://127.0.0.1:${admin.port}`;
    server.startedInMs = Date.now() - started;
    return server;
  } catch (err) {
    moto.process.kill();
    throw err;
  }
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!["port", "adminPort", "motoPort"].includes(name)) throw new Error(`unknown option ${argv[i]}`);
    out[name] = Number(argv[i + 1]);
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const server = await startS3(parseArgs(process.argv.slice(2)));
  process.stdout.write(`${JSON.stringify(server.info(), null, 2)}\n`);
  process.stderr.write(`s3: ready in ${server.startedInMs} ms: endpoint ${server.endpoint}, admin ${server.adminUrl}; Ctrl-C stops\n`);
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => server.stop().then(() => process.exit(0)));
  }
}
