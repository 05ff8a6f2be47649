//! AWS Signature Version 4 for S3: header signing (what `fetch` sends in credentials mode) and
//! query signing (presigned URLs), written from AWS's specification on `hmac` + `sha2`.
//!
//! Pure: no IO, no JS, no clock (the caller passes the time, corrected for the server's clock), so
//! it compiles natively and is checked against AWS's published examples (`tests/s3.rs`). The one
//! canonicalisation serves both forms and also builds the query string actually sent, so what is
//! signed is byte for byte what goes on the wire.
//!
//! Why not `aws-sigv4`: it drags the Smithy runtime (`aws-smithy-*`, `http`, `time`, ...) into
//! the wasm, wants a newer compiler than the project's, and reads the system clock, which panics on
//! wasm32-unknown-unknown. S3's profile of SigV4 is small: the path is encoded once (no double
//! encoding, no dot-segment normalisation), the payload hash is a header.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// `x-amz-content-sha256` of a request whose body is not hashed (presigned URLs).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// SHA-256 of the empty string: the payload hash of a request without a body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// AWS credentials. Lives in memory only, never logged: `Debug` prints the access key id alone.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (public).
    pub access_key_id: String,
    /// The secret key (never leaves this struct but as an HMAC key).
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <secret>)", self.access_key_id)
    }
}

/// What is signed of one request.
///
/// ```text
/// Request { method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt",
///           query: &[], headers: &[("range".into(), "bytes=0-9".into())], payload_hash: EMPTY_SHA256 }
/// ```
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// `GET`, `PUT`, ...
    pub method: &'a str,
    /// The `Host` header the browser sends: host, and `:port` when not the scheme's default.
    pub host: &'a str,
    /// The path as sent, already encoded with [`encode_path`].
    pub path: &'a str,
    /// Query parameters, not encoded.
    pub query: &'a [(String, String)],
    /// Headers to sign besides `host` (and the `x-amz-*` the signer adds), names lowercase.
    pub headers: &'a [(String, String)],
    /// Hex SHA-256 of the body, [`EMPTY_SHA256`], or [`UNSIGNED_PAYLOAD`].
    pub payload_hash: &'a str,
}

/// The scope of a signature: a day, a region, a service.
#[derive(Clone, Debug)]
pub struct Scope<'a> {
    /// e.g. `us-east-1`.
    pub region: &'a str,
    /// `s3`.
    pub service: &'a str,
    /// The signing time, Unix milliseconds.
    pub now_ms: u64,
}

/// RFC 3986 percent-encoding as SigV4 wants it: every byte but `A-Za-z0-9-._~` as `%XX`
/// (uppercase), `/` too unless `keep_slash`.
///
/// ```text
/// uri_encode("a b/c:d", true) == "a%20b/c%3Ad"
/// ```
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An object key as a URL path segment sequence (S3 canonicalises paths this way itself).
///
/// ```text
/// encode_path("users/eu-west-1:7d3c/x") == "users/eu-west-1%3A7d3c/x"
/// ```
pub fn encode_path(key: &str) -> String {
    uri_encode(key, true)
}

/// The canonical query string: names and values encoded, sorted by name then value. It is also
/// what is sent, so the server sees exactly what was signed.
///
/// ```text
/// canonical_query(&[("prefix".into(), "a/b".into()), ("list-type".into(), "2".into())]) == "list-type=2&prefix=a%2Fb"
/// ```
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    sort_short(&mut pairs);
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `YYYYMMDD'T'HHMMSS'Z'` for Unix milliseconds.
///
/// ```text
/// amz_date(1_369_353_600_000) == "20130524T000000Z"
/// ```
pub fn amz_date(ms: u64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Sorts a short list in place by insertion: a request has a handful of headers and query
/// parameters, and `sort` would bring a whole driftsort instance per element type into the wasm
/// (issue 14: size). Equal items are identical strings, so stability does not matter.
///
/// ```text
/// let mut v = vec!["b", "a"]; sort_short(&mut v); v == ["a", "b"]
/// ```
fn sort_short<T: Ord>(v: &mut [T]) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && v[j - 1] > v[j] {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Lowercase hex.
///
/// ```text
/// hex(&[0xab, 1]) == "ab01"
/// ```
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of `bytes` (a small body's payload hash).
///
/// ```text
/// sha256_hex(b"") == EMPTY_SHA256
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The canonical request, and the signed header names (`a;b;c`).
fn canonical_request(req: &Request<'_>, extra: &[(String, String)]) -> (String, String) {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_ascii_lowercase(), trim_value(v)))
        .collect();
    headers.push(("host".into(), req.host.to_ascii_lowercase()));
    sort_short(&mut headers);
    let signed = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let text = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed}\n{}",
        req.method,
        req.path,
        canonical_query(req.query),
        req.payload_hash
    );
    (text, signed)
}

/// Header values trimmed, inner runs of spaces collapsed (SigV4's rule).
fn trim_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The signature of `canonical` at `stamp` in `scope`.
fn signature(secret: &str, stamp: &str, scope: &Scope<'_>, canonical: &str) -> (String, String) {
    let date = &stamp[..8];
    let credential_scope = format!("{date}/{}/{}/aws4_request", scope.region, scope.service);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{credential_scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k = hmac(&k, scope.region);
    let k = hmac(&k, scope.service);
    let k = hmac(&k, "aws4_request");
    (hex(&hmac(&k, &to_sign)), credential_scope)
}

/// The headers to add to `req` for header signing: `x-amz-date`, `x-amz-content-sha256`,
/// `x-amz-security-token` (temporary credentials) and `authorization`.
///
/// ```text
/// for (name, value) in sign_headers(&req, &creds, &scope) { request = request.header(&name, &value); }
/// ```
pub fn sign_headers(
    req: &Request<'_>,
    creds: &Credentials,
    scope: &Scope<'_>,
) -> Vec<(String, String)> {
    let stamp = amz_date(scope.now_ms);
    let mut extra = vec![
        (
            "x-amz-content-sha256".to_owned(),
            req.payload_hash.to_owned(),
        ),
        ("x-amz-date".to_owned(), stamp.clone()),
    ];
    if let Some(token) = &creds.session_token {
        extra.push(("x-amz-security-token".to_owned(), token.clone()));
    }
    let (canonical, signed) = canonical_request(req, &extra);
    let (sig, credential_scope) = signature(&creds.secret_access_key, &stamp, scope, &canonical);
    extra.push((
        "authorization".to_owned(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{credential_scope}, SignedHeaders={signed}, Signature={sig}",
            creds.access_key_id
        ),
    ));
    extra
}

/// The query string of a presigned URL for `req` valid `expires_secs` (its `X-Amz-*` parameters
/// added to `req.query`, signature last). `req.payload_hash` should be [`UNSIGNED_PAYLOAD`].
///
/// ```text
/// let url = format!("https://{host}{path}?{}", presign_query(&req, &creds, &scope, 900));
/// ```
pub fn presign_query(
    req: &Request<'_>,
    creds: &Credentials,
    scope: &Scope<'_>,
    expires_secs: u32,
) -> String {
    let stamp = amz_date(scope.now_ms);
    let date = &stamp[..8];
    let mut headers: Vec<String> = req
        .headers
        .iter()
        .map(|(k, _)| k.to_ascii_lowercase())
        .chain(std::iter::once("host".to_owned()))
        .collect();
    sort_short(&mut headers);
    let mut query = req.query.to_vec();
    query.extend([
        ("X-Amz-Algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
        (
            "X-Amz-Credential".to_owned(),
            format!(
                "{}/{date}/{}/{}/aws4_request",
                creds.access_key_id, scope.region, scope.service
            ),
        ),
        ("X-Amz-Date".to_owned(), stamp.clone()),
        ("X-Amz-Expires".to_owned(), expires_secs.to_string()),
        ("X-Amz-SignedHeaders".to_owned(), headers.join(";")),
    ]);
    if let Some(token) = &creds.session_token {
        query.push(("X-Amz-Security-Token".to_owned(), token.clone()));
    }
    let signed = Request {
        query: &query,
        ..req.clone()
    };
    let (canonical, _) = canonical_request(&signed, &[]);
    let (sig, _) = signature(&creds.secret_access_key, &stamp, scope, &canonical);
    format!("{}&X-Amz-Signature={sig}", canonical_query(&query))
}
