// moto's standalone server for the test S3: installs it (a venv under .tools/, from the pinned
// emulators/s3/requirements.txt, once), starts it on loopback, configures it while it still serves
// unauthenticated requests (IAM users and roles confined by the shipped policies, the bucket with the shipped
// CORS rules), then turns SigV4 + IAM enforcement on (POST /moto-api/reset-auth 0). Facts relied on:
// ../../../shared/facts/s3-moto.md.

import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { corsXml } from "./cors.mjs";
import { renderPolicy } from "./policy.mjs";
import { sha256Hex, signHeaders } from "./sigv4.mjs";
import { tagText } from "./xml.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, "../..");
export const TOOLS = path.join(ROOT, ".tools");
export const VENV = path.join(TOOLS, "s3-venv");
const REQUIREMENTS = path.join(here, "requirements.txt");
const STAMP = path.join(VENV, ".requirements.sha256");

/** The shipped documents (s3/), read at start so the tests exercise exactly what is shipped. */
export function shippedDocuments() {
  const read = (name) => JSON.parse(readFileSync(path.join(ROOT, "s3", name), "utf8"));
  return { cors: read("cors.json"), policy: read("iam-policy.json"), cognitoPolicy: read("iam-policy-cognito.json") };
}

function sh(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { maxBuffer: 64 << 20, ...options }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n${stdout}${stderr}`;
        reject(err);
      } else resolve(stdout);
    });
    // Progress goes to stderr: under `node --test` a test file's stdout is the runner's channel.
    child.stdout?.pipe(process.stderr);
    child.stderr?.pipe(process.stderr);
  });
}

/**
 * Makes sure .tools/s3-venv has exactly emulators/s3/requirements.txt installed (idempotent; one installer
 * at a time across processes, through flock). Returns the venv's python.
 */
export async function ensureMoto({ log = (m) => process.stderr.write(`s3: ${m}\n`) } = {}) {
  const python = path.join(VENV, "bin", "python");
  const want = sha256Hex(readFileSync(REQUIREMENTS));
  const current = () => existsSync(python) && existsSync(STAMP) && readFileSync(STAMP, "utf8").trim() === want;
  if (current()) return python;
  mkdirSync(TOOLS, { recursive: true });
  log(`installing moto from ${path.relative(ROOT, REQUIREMENTS)} into ${path.relative(ROOT, VENV)} (once; about 2 minutes)`);
  const script = [
    "set -euo pipefail",
    `if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then exit 0; fi`,
    `[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"`,
    `"$VENV/bin/pip" install --disable-pip-version-check -q -r "$REQ"`,
    `echo "$WANT" > "$STAMP"`,
  ].join("\n");
  await sh("flock", ["-w", "900", path.join(TOOLS, "s3-venv.lock"), "bash", "-c", script], {
    env: { ...process.env, VENV, REQ: REQUIREMENTS, STAMP, WANT: want },
  });
  return python;
}

/** A free TCP port on 127.0.0.1 (for moto, which cannot report the port it bound). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts moto on 127.0.0.1:port; resolves { process, url } once it answers. */
export async function startMoto(python, port, { timeoutMs = 60000 } = {}) {
  const child = spawn(python, [path.join(here, "moto_main.py"), "-H", "127.0.0.1", "-p", String(port)], {
    // A pipe as stdin: moto_main.py exits when it closes, i.e. when this process ends however it ends.
    stdio: ["pipe", "ignore", "pipe"],
    // No global flask-cors `Access-Control-Allow-Origin: *`: CORS is the proxy's, from the bucket's rules.
    env: { ...process.env, MOTO_DISABLE_GLOBAL_CORS: "true", PYTHONUNBUFFERED: "1" },
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto exited during start (code ${child.exitCode}):\n${stderr}`);
    try {
      const res = await fetch(`${url}/moto-api/data.json`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`moto did not answer on ${url} within ${timeoutMs} ms:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.unref();
  child.stdin.unref?.();
  child.stderr.unref?.();
  return { process: child, url, log: () => stderr };
}

/** Signs and sends one request to moto (before enforcement the key is not checked; after, it must be real). */
export async function motoCall(motoUrl, { method = "POST", path: p = "/", service, region, credentials, body = "", headers = {} }) {
  const url = new URL(p, motoUrl);
  const bytes = Buffer.from(body);
  const signed = signHeaders({ method, url, headers, payloadHash: sha256Hex(bytes), credentials, region, service });
  const res = await fetch(url, { method, headers: signed, body: method === "GET" || method === "HEAD" ? undefined : bytes });
  const text = await res.text();
  if (!res.ok) throw new Error(`moto ${service} ${method} ${p}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return text;
}

/**
 * Configures a fresh moto and turns enforcement on. Returns { accountId, admin, users, roles } where users
 * maps each name to { name, accessKeyId, secretAccessKey, roleArn, prefix, policy, rolePolicy }.
 */
export async function configureMoto(motoUrl, { region, bucket, userNames, allowedOrigins }) {
  const docs = shippedDocuments();
  // Before enforcement moto checks no key; this one only names the service in the credential scope.
  const setup = { accessKeyId: "AKIASETUPSETUPSETUP0", secretAccessKey: "setup" };
  const iam = (params) =>
    motoCall(motoUrl, {
      service: "iam",
      region,
      credentials: setup,
      body: new URLSearchParams({ Version: "2010-05-08", ...params }).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
    });
  const json = (doc) => JSON.stringify(doc);

  const createUser = async (name, policies) => {
    const created = await iam({ Action: "CreateUser", UserName: name });
    for (const [policyName, doc] of Object.entries(policies)) {
      await iam({ Action: "PutUserPolicy", UserName: name, PolicyName: policyName, PolicyDocument: json(doc) });
    }
    const key = await iam({ Action: "CreateAccessKey", UserName: name });
    return { arn: tagText(created, "Arn"), accessKeyId: tagText(key, "AccessKeyId"), secretAccessKey: tagText(key, "SecretAccessKey") };
  };

  const adminPolicy = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] };
  const adminUser = await createUser("tapesync-admin", { everything: adminPolicy });
  const accountId = /^arn:aws:iam::(\d+):/.exec(adminUser.arn)?.[1];
  const admin = { name: "tapesync-admin", accessKeyId: adminUser.accessKeyId, secretAccessKey: adminUser.secretAccessKey, policies: [adminPolicy] };

  const users = {};
  const roles = new Map();
  for (const name of userNames) {
    const roleName = `tapesync-${name}`;
    const roleArn = `arn:aws:iam::${accountId}:role/${roleName}`;
    // moto matches policy resources literally (no ${aws:username} substitution), so each user gets the
    // shipped template rendered with its own name; the role gets the Cognito-style template rendered the same.
    const policy = renderPolicy(docs.policy, { bucket, vars: { "aws:username": name } });
    const rolePolicy = renderPolicy(docs.cognitoPolicy, { bucket, vars: { "cognito-identity.amazonaws.com:sub": name } });
    const assume = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: roleArn }] };
    const user = await createUser(name, { "tapesync-prefix": policy, "assume-own-role": assume });
    const trust = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { AWS: user.arn }, Action: "sts:AssumeRole" }] };
    await iam({ Action: "CreateRole", RoleName: roleName, AssumeRolePolicyDocument: json(trust), MaxSessionDuration: "43200" });
    await iam({ Action: "PutRolePolicy", RoleName: roleName, PolicyName: "tapesync-prefix", PolicyDocument: json(rolePolicy) });
    users[name] = {
      name,
      arn: user.arn,
      accessKeyId: user.accessKeyId,
      secretAccessKey: user.secretAccessKey,
      roleArn,
      prefix: `users/${name}/`,
      policies: [policy, assume],
    };
    roles.set(roleName, { user: name, policies: [rolePolicy] });
  }

  const s3 = (method, p, body = "", headers = {}) => motoCall(motoUrl, { method, path: p, service: "s3", region, credentials: setup, body, headers });
  await s3("PUT", `/${bucket}`);
  await s3("PUT", `/${bucket}?cors`, corsXml(testCorsRules(docs.cors, allowedOrigins)), { "content-type": "application/xml" });

  const res = await fetch(`${motoUrl}/moto-api/reset-auth`, { method: "POST", body: "0" });
  if (!res.ok) throw new Error(`moto reset-auth: HTTP ${res.status} ${await res.text()}`);
  return { accountId, admin, users, roles };
}

/** The shipped CORS rules with the test origins added to each rule's AllowedOrigins. */
export function testCorsRules(shipped, allowedOrigins) {
  return shipped.CORSRules.map((rule) => ({ ...rule, AllowedOrigins: [...rule.AllowedOrigins, ...allowedOrigins] }));
}

/** Content-MD5 of a body, base64 (S3 requires it or a checksum on DeleteObjects and PutBucketCors). */
export function contentMd5(body) {
  return createHash("md5").update(body).digest("base64");
}
