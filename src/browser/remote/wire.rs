//! What the wire hands us, checked: pure rules for URLs, `Retry-After`, upload offsets, MIME
//! types and Firebase's status codes; and the remote's [`Failure`], with its one conversion to
//! the sync core's failure.
//!
//! Nothing here does IO or touches JS, so it is unit-tested natively (`tests/wire.rs` includes
//! this file), although the rest of `browser` is wasm32 only. Every rule answers the question
//! "may we believe this?" conservatively: what is not clearly fine is refused.

pub use crate::core::audio_type::{audio_mime, OCTET_STREAM};
use crate::core::engine::Failure as CoreFailure;
use crate::core::error_class::{classify, ErrorClass, ErrorCode};

/// Bytes every resumable chunk but the last is a multiple of (Google's upload protocol: 256 KiB),
/// hence also every offset a server can truthfully report mid-upload.
pub const UPLOAD_UNIT: u64 = 256 * 1024;

/// The parts of an absolute `http(s)` URL that decide where a request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https`, lowercase.
    pub scheme: String,
    /// The host, lowercase; an IPv6 address keeps its brackets.
    pub host: String,
    /// The port, `None` when it is the scheme's default.
    pub port: Option<u16>,
}

/// The origin of an absolute `http://` or `https://` URL, or why it has none we can trust.
///
/// Deliberately stricter than a browser's URL parser: credentials (`user@`), backslashes,
/// whitespace, control characters and an empty host are refused, so that what we compare is
/// exactly where the browser will send the request.
///
/// ```text
/// origin("https://Example.com:443/x") == Ok(Origin { scheme: "https", host: "example.com", port: None })
/// ```
pub fn origin(url: &str) -> Result<Origin, String> {
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err("it holds whitespace, control characters or backslashes".into());
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "it is not an absolute URL".to_owned())?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err("it is neither http:// nor https://".into()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("it carries credentials".into());
    }
    // `after` is what follows the host: nothing, or ":port".
    let (host, after) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| "its IPv6 host has no closing ']'".to_owned())?;
        (format!("[{addr}]"), after)
    } else {
        let end = authority.find(':').unwrap_or(authority.len());
        (authority[..end].to_owned(), &authority[end..])
    };
    let port = match after {
        "" => None,
        p => {
            let digits = p
                .strip_prefix(':')
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| "its port is not a number".to_owned())?;
            let n: u16 = digits
                .parse()
                .map_err(|_| "its port is out of range".to_owned())?;
            (n != default_port).then_some(n)
        }
    };
    if host.is_empty() || host == "[]" {
        return Err("it has no host".into());
    }
    Ok(Origin {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// Whether `url` goes to the same origin as `base` (both must parse): the test a URL the server
/// handed us (a resumable session) passes before it gets the token.
///
/// ```text
/// same_origin("http://127.0.0.1:9199/v0/b/x/o?upload_id=1", "http://127.0.0.1:9199") == true
/// same_origin("https://evil.example/upload", "https://firebasestorage.googleapis.com") == false
/// ```
pub fn same_origin(url: &str, base: &str) -> bool {
    matches!((origin(url), origin(base)), (Ok(a), Ok(b)) if a == b)
}

/// Whether `host` (as in [`Origin::host`]) is this machine: `localhost`, an address in
/// 127.0.0.0/8 written as four decimal numbers, or `[::1]`.
///
/// ```text
/// is_loopback_host("127.0.0.1") && is_loopback_host("[::1]") && !is_loopback_host("127.0.0.1.example.com")
/// ```
pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|a| a.is_loopback());
    }
    // std's parser takes exactly four decimal octets (no "127.1", no octal or hex forms).
    host.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|a| a.is_loopback())
}

/// Whether `url` may be a remote's `baseUrl`: an absolute `https://` URL, or `http://` to a
/// loopback host only (the local emulators), without credentials, query or fragment. The message
/// says what is wrong.
///
/// ```text
/// check_base_url("https://firebasestorage.googleapis.com") == Ok(())
/// check_base_url("http://127.0.0.1:9199") == Ok(())
/// check_base_url("http://storage.example.com").is_err()   // the token would travel in clear text
/// ```
pub fn check_base_url(url: &str) -> Result<(), String> {
    let o = origin(url).map_err(|why| format!("{url:?} is not usable: {why}"))?;
    if url.contains(['?', '#']) {
        return Err(format!(
            "{url:?} is not usable: it has a query or a fragment"
        ));
    }
    if o.scheme == "http" && !is_loopback_host(&o.host) {
        return Err(format!(
            "{url:?} is not usable: http:// is accepted only for 127.0.0.1, localhost or [::1] \
             (the token would travel in clear text); use https://"
        ));
    }
    Ok(())
}

/// A `Retry-After` header as a delay in milliseconds from `now_ms` (Unix milliseconds): either
/// delay-seconds or an HTTP date (IMF-fixdate, RFC 850 or asctime, as RFC 9110 asks recipients to
/// accept). A date in the past is `Some(0)`; anything unreadable is `None`. Capping is the
/// engine's business.
///
/// ```text
/// parse_retry_after("120", 0) == Some(120_000)
/// parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", 0) == Some(60_000)
/// ```
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // A huge number of seconds is still "later": saturate instead of refusing it.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(secs.saturating_mul(1000));
    }
    let at = http_date_ms(value)?;
    Some(at.saturating_sub(now_ms))
}

/// Unix milliseconds of an HTTP date in GMT.
fn http_date_ms(value: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let tokens: Vec<&str> = value
        .split([' ', ',', '-'])
        .filter(|t| !t.is_empty())
        .collect();
    let mut numbers = Vec::new();
    let (mut month, mut time, mut month_first) = (None, None, false);
    for (i, t) in tokens.iter().enumerate() {
        if let Some(m) = MONTHS.iter().position(|m| t.eq_ignore_ascii_case(m)) {
            month = Some(m as u64 + 1);
            month_first = numbers.is_empty();
        } else if t.contains(':') {
            time = Some(*t);
        } else if t.bytes().all(|b| b.is_ascii_digit()) {
            numbers.push(t.parse::<u64>().ok()?);
        } else if i == 0 || t.eq_ignore_ascii_case("GMT") {
            // The weekday, and the zone: HTTP dates are always GMT.
        } else {
            return None;
        }
    }
    let (month, time) = (month?, time?);
    let (day, year) = match (numbers.as_slice(), month_first) {
        // asctime: "Sun Nov  6 08:49:37 1994"
        ([day, year], true) => (*day, *year),
        // IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" and RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT"
        ([day, year], false) => (*day, *year),
        _ => return None,
    };
    let year = match year {
        0..=69 => 2000 + year,
        70..=99 => 1900 + year,
        y => y,
    };
    let mut hms = time.split(':').map(|p| {
        p.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| p.parse::<u64>().ok())
            .flatten()
    });
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || h > 23 || m > 59 || s > 60 || !(1..=31).contains(&day) {
        return None;
    }
    if !(1970..=9999).contains(&year) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + h) * 60 + m) * 60_000 + s * 1000)
}

/// Days from 1970-01-01 to a date (Howard Hinnant's algorithm, for years from 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The bytes a server says it holds of a resumable upload of `size` bytes
/// (`X-Goog-Upload-Size-Received`), if that can be true: a plain decimal number, at most `size`,
/// and a multiple of [`UPLOAD_UNIT`] unless it is all of it. Resuming from a number that fails
/// this would upload a corrupt object.
///
/// ```text
/// check_received(Some("262144"), 1_000_000) == Ok(262144)
/// check_received(Some("1000001"), 1_000_000).is_err()
/// ```
pub fn check_received(header: Option<&str>, size: u64) -> Result<u64, String> {
    let raw = header.ok_or_else(|| "the server did not say how much it received".to_owned())?;
    let raw = raw.trim();
    let got = raw
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| raw.parse::<u64>().ok())
        .flatten()
        .ok_or_else(|| format!("the server says it received {raw:?} bytes"))?;
    if got > size {
        return Err(format!(
            "the server says it received {got} bytes of an upload of {size}"
        ));
    }
    if got != size && got % UPLOAD_UNIT != 0 {
        return Err(format!(
            "the server says it received {got} bytes, not a multiple of {UPLOAD_UNIT}"
        ));
    }
    Ok(got)
}

/// What a server says of a resumable upload session (`X-Goog-Upload-Command: query`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Still open, holding this many bytes (checked by [`check_received`]).
    Active(u64),
    /// Finalized (by a request whose answer may have been lost).
    Final,
    /// Cancelled: start a new one.
    Gone,
}

/// Reads a query's answer headers, `X-Goog-Upload-Status` and `X-Goog-Upload-Size-Received`,
/// for an upload of `size` bytes. An offset that cannot be true, or a status never defined, is
/// an error (the upload then starts over rather than resume from it).
///
/// ```text
/// session_state(Some("active"), Some("262144"), 1_000_000) == Ok(SessionState::Active(262144))
/// session_state(Some("final"), None, 10) == Ok(SessionState::Final)
/// ```
pub fn session_state(
    status: Option<&str>,
    received: Option<&str>,
    size: u64,
) -> Result<SessionState, String> {
    let status = status.map(|s| s.trim().to_ascii_lowercase());
    match status.as_deref() {
        Some("final") => Ok(SessionState::Final),
        Some("cancelled") => Ok(SessionState::Gone),
        Some("active") | None => check_received(received, size).map(SessionState::Active),
        Some(other) => Err(format!("the upload session's status is {other:?}")),
    }
}

/// Checks object metadata (the JSON a Firebase upload answers with, or a metadata read) names
/// `name` in `bucket`, and gives its size: an upload counts only when this says it holds our
/// bytes' size under our name. `upload_status` is the answer's `X-Goog-Upload-Status`, which,
/// when present, must be `final`.
///
/// ```text
/// stored_size(r#"{"name":"u/a","bucket":"b","size":"4"}"#, None, "u/a", "b") == Ok(4)
/// ```
pub fn stored_size(
    body: &str,
    upload_status: Option<&str>,
    name: &str,
    bucket: &str,
) -> Result<u64, String> {
    if let Some(state) = upload_status.filter(|s| !s.trim().eq_ignore_ascii_case("final")) {
        return Err(format!(
            "the upload's last answer says it is {state:?}, not final"
        ));
    }
    let meta = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .filter(|v| v.is_object())
        .ok_or_else(|| "the server's answer is not object metadata".to_owned())?;
    let got = meta.get("name").and_then(|n| n.as_str());
    if got != Some(name) {
        return Err(format!(
            "the server's answer is about object {got:?}, not {name:?}"
        ));
    }
    let got = meta.get("bucket").and_then(|b| b.as_str());
    if got != Some(bucket) {
        return Err(format!(
            "the server's answer is about bucket {got:?}, not {bucket:?}"
        ));
    }
    // A decimal string on the wire; a number is tolerated.
    match meta.get("size") {
        Some(serde_json::Value::String(s))
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse()
                .map_err(|_| format!("the object size {s:?} is out of range"))
        }
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| format!("the object size {n} is not a byte count")),
        other => Err(format!(
            "the server's answer has no object size ({other:?})"
        )),
    }
}

/// A cloud's JSON answer that must be an object (listings): read through `serde_json::Value`,
/// which the crate has anyway, rather than a serde derive per answer (each derive is its own
/// deserializer in the wasm: issue 14, size). `what` names the answer in the error.
///
/// ```text
/// json_object(r#"{"items":[]}"#, "listing").is_ok()
/// json_object("[]", "listing").is_err()
/// ```
pub fn json_object(body: &str, what: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .filter(|v| v.is_object())
        .ok_or_else(|| format!("unreadable {what}: not a JSON object"))
}

/// The optional string `key` of a JSON object: absent or `null` is `None`, any other non-string
/// an error.
///
/// ```text
/// json_opt_string(&json!({"next": "a"}), "next") == Ok(Some("a"))
/// json_opt_string(&json!({"next": 1}), "next").is_err()
/// ```
pub fn json_opt_string(v: &serde_json::Value, key: &str) -> Result<Option<String>, String> {
    match v.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{key} is not a string")),
    }
}

/// The names in the array `key` of a JSON object (absent is empty): each item a string, or with
/// `field`, an object whose `field` is a string. Anything else is an error, not skipped.
///
/// ```text
/// json_names(&json!({"items": [{"name": "a"}]}), "items", Some("name")) == Ok(vec!["a"])
/// json_names(&json!({"prefixes": ["p/"]}), "prefixes", None) == Ok(vec!["p/"])
/// ```
pub fn json_names(
    v: &serde_json::Value,
    key: &str,
    field: Option<&str>,
) -> Result<Vec<String>, String> {
    let Some(items) = v.get(key) else {
        return Ok(Vec::new());
    };
    let items = items
        .as_array()
        .ok_or_else(|| format!("{key} is not an array"))?;
    items
        .iter()
        .map(|item| {
            field
                .map_or(Some(item), |f| item.get(f))
                .and_then(|n| n.as_str())
                .map(str::to_owned)
                .ok_or_else(|| format!("{key} has an item without a name"))
        })
        .collect()
}

/// Firebase Storage's statuses as error codes: 401 Unauthorized, 403 Forbidden, 404 NotFound,
/// 400/413/422 InvalidArgument, 409/412 Conflict, anything else Remote. (No answer at all is
/// `Network`, decided before any status exists.)
///
/// ```text
/// firebase_code(403) == ErrorCode::Forbidden
/// firebase_code(503) == ErrorCode::Remote
/// ```
pub fn firebase_code(status: u16) -> ErrorCode {
    match status {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        400 | 413 | 422 => ErrorCode::InvalidArgument,
        409 | 412 => ErrorCode::Conflict,
        _ => ErrorCode::Remote,
    }
}

/// The message of an error answer for people: the `error.message` (or `message`) of a JSON body,
/// else the body's text, else the status's reason phrase; at most 300 characters. Never prefixed
/// with the status, which travels as data.
///
/// ```text
/// error_message(403, r#"{"error":{"code":403,"message":"Permission denied."}}"#) == "Permission denied."
/// error_message(503, "") == "Service Unavailable"
/// ```
pub fn error_message(status: u16, body: &str) -> String {
    let json = serde_json::from_str::<serde_json::Value>(body).ok();
    let from_json = json.as_ref().and_then(|v| {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        v.get("error")
            .and_then(|e| e.get("message"))
            .and_then(text)
            .or_else(|| v.get("message").and_then(text))
            .or_else(|| v.get("error").and_then(text))
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_owned());
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if text.trim().is_empty() {
        reason(status).to_owned()
    } else {
        text
    }
}

/// The reason phrase of common statuses.
fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "the server gave no reason",
    }
}

/// Why an HTTP exchange failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with this status (and, for Supabase-style bodies, the real code).
    Status {
        /// The HTTP status, or the status code a 400 body says it really is.
        status: u16,
        /// The server's error text, shortened, without the status (which is data).
        message: String,
        /// How long the server asked us to wait (`Retry-After`, seconds or an HTTP date on the
        /// wire), in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// The server answered with a success, but the answer does not hold up: an upload it does
    /// not confirm, a download whose bytes are not the ones asked for, an offset out of bounds,
    /// a body that cannot be read. Retryable, code Remote, and no status: what the server did is
    /// not known (for a write, the engine asks with a metadata read before sending it again).
    Invalid(String),
    /// No answer: the network is down, the connection dropped, CORS refused it.
    Network(String),
    /// No answer within the deadline: a stalled transfer.
    Timeout,
    /// The app's `AbortSignal` fired.
    Aborted,
}

impl Failure {
    /// A failure that is the server's answer `status`.
    ///
    /// ```text
    /// Failure::status_only(401, "getToken() rejected").status() == Some(401)
    /// ```
    pub fn status_only(status: u16, message: impl Into<String>) -> Self {
        Failure::Status {
            status,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// An answer that does not hold up (see [`Failure::Invalid`]).
    ///
    /// ```text
    /// Failure::invalid("the server stored 3 bytes of 4")
    /// ```
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure::Invalid(message.into())
    }

    /// The server's `Retry-After`, in milliseconds.
    ///
    /// ```text
    /// Failure::Timeout.retry_after_ms() == None
    /// ```
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Failure::Status { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        }
    }

    /// The HTTP status of the failure: `None` when there was no answer (network failures,
    /// timeouts, cancellation) or its outcome is unknown ([`Failure::Invalid`]).
    ///
    /// ```text
    /// Failure::Network("offline".into()).status() == None
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The one conversion to the sync core's failure: class from the status, code from the
    /// backend's table `code_of` (e.g. [`firebase_code`]), the message as the server
    /// gave it (never prefixed with the status), `Retry-After` carried along. An answer that does
    /// not hold up is Retryable with code `Remote`; no answer is Retryable with code `Network`.
    ///
    /// ```text
    /// let f = Failure::status_only(403, "Permission denied.").to_core(firebase_code);
    /// assert_eq!((f.code, f.status, f.message.as_str()), (ErrorCode::Forbidden, Some(403), "Permission denied."));
    /// ```
    pub fn to_core(&self, code_of: impl Fn(u16) -> ErrorCode) -> CoreFailure {
        match self {
            Failure::Status {
                status,
                message,
                retry_after_ms,
            } => CoreFailure::new(
                classify(Some(*status)),
                code_of(*status),
                Some(*status),
                message.as_str(),
            )
            .with_retry_after(*retry_after_ms),
            Failure::Invalid(message) => CoreFailure::new(
                ErrorClass::Retryable,
                ErrorCode::Remote,
                None,
                message.as_str(),
            ),
            Failure::Network(m) => CoreFailure::network(m.as_str()),
            Failure::Timeout => CoreFailure::network("no answer before the deadline"),
            Failure::Aborted => CoreFailure::network("aborted"),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status {
                status, message, ..
            } => write!(f, "{message} (status {status})"),
            Failure::Invalid(m) => write!(f, "an answer that does not hold up: {m}"),
            Failure::Network(m) => write!(f, "network error: {m}"),
            Failure::Timeout => f.write_str("no answer before the deadline"),
            Failure::Aborted => f.write_str("aborted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_answers_are_checked_field_by_field() {
        let v = json_object(
            r#"{"items":[{"name":"a","bucket":"b"}],"prefixes":["p/"],"next":"t"}"#,
            "listing",
        )
        .unwrap();
        assert_eq!(
            json_names(&v, "items", Some("name")),
            Ok(vec!["a".to_owned()])
        );
        assert_eq!(json_names(&v, "prefixes", None), Ok(vec!["p/".to_owned()]));
        assert_eq!(json_names(&v, "absent", None), Ok(vec![]));
        assert_eq!(json_opt_string(&v, "next"), Ok(Some("t".to_owned())));
        assert_eq!(json_opt_string(&v, "absent"), Ok(None));
        // What is not the expected shape is refused, not skipped.
        let bad = json_object(
            r#"{"items":[{"name":1}],"prefixes":"p/","next":2,"n":null}"#,
            "x",
        )
        .unwrap();
        assert!(json_names(&bad, "items", Some("name")).is_err());
        assert!(json_names(&bad, "prefixes", None).is_err());
        assert!(json_opt_string(&bad, "next").is_err());
        assert_eq!(json_opt_string(&bad, "n"), Ok(None));
        for body in ["[]", "1", "not json", ""] {
            assert!(json_object(body, "listing").is_err(), "{body}");
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_effective_port() {
        assert!(same_origin(
            "http://127.0.0.1:9199/v0/b/bk/o?name=x&upload_id=1",
            "http://127.0.0.1:9199"
        ));
        assert!(same_origin(
            "HTTPS://FirebaseStorage.googleapis.com:443/v0/b/x/o?upload_id=1",
            "https://firebasestorage.googleapis.com"
        ));
        for foreign in [
            "https://evil.example/v0/b/bk/o",
            "http://127.0.0.1:9198/v0/b/bk/o",
            "https://127.0.0.1:9199/v0/b/bk/o",
            "http://127.0.0.1:9199@evil.example/",
            "http://evil.example\\@127.0.0.1:9199/",
            "http://127.0.0.1:9199.evil.example/",
            "//127.0.0.1:9199/v0",
            "/v0/b/bk/o",
            "",
            "javascript:alert(1)",
            "http://127.0.0.1:99999/",
            "http://127.0.0.1:9199 /",
        ] {
            assert!(!same_origin(foreign, "http://127.0.0.1:9199"), "{foreign}");
        }
        // An unparseable base matches nothing, not even itself.
        assert!(!same_origin("x", "x"));
    }

    #[test]
    fn origin_drops_default_ports_and_keeps_ipv6_brackets() {
        let o = origin("http://[::1]:80/x").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("[::1]", None));
        let o = origin("https://[::1]:8443").unwrap();
        assert_eq!(
            (o.scheme.as_str(), o.host.as_str(), o.port),
            ("https", "[::1]", Some(8443))
        );
        assert!(origin("http://[::1/x").is_err());
        assert!(origin("http://:80/").is_err());
        assert!(origin("http://h:/").is_err());
    }

    #[test]
    fn loopback_hosts_are_exactly_localhost_127_8_and_ipv6_one() {
        for yes in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "127.255.255.255",
            "[::1]",
            "[0:0:0:0:0:0:0:1]",
        ] {
            assert!(is_loopback_host(yes), "{yes}");
        }
        for no in [
            "128.0.0.1",
            "10.0.0.1",
            "0.0.0.0",
            "127.1",
            "0x7f.0.0.1",
            "0177.0.0.1",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "evil-localhost",
            "[::2]",
            "[::ffff:127.0.0.1]",
            "::1",
            "",
        ] {
            assert!(!is_loopback_host(no), "{no}");
        }
    }

    #[test]
    fn base_url_allows_https_anywhere_and_http_on_loopback_only() {
        for ok in [
            "https://firebasestorage.googleapis.com",
            "https://storage.example.com/proxy/",
            "http://127.0.0.1:9199",
            "http://localhost:9199/",
            "http://[::1]:9199",
        ] {
            assert_eq!(check_base_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://firebasestorage.googleapis.com",
            "http://192.168.1.10:9199",
            "http://127.0.0.1.nip.io:9199",
            "http://user:pw@127.0.0.1:9199",
            "https://user@firebasestorage.googleapis.com",
            "https://firebasestorage.googleapis.com?x=1",
            "https://firebasestorage.googleapis.com#x",
            "ftp://127.0.0.1",
            "firebasestorage.googleapis.com",
            "",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
        assert!(check_base_url("http://10.0.0.1")
            .unwrap_err()
            .contains("use https://"));
    }

    #[test]
    fn retry_after_reads_seconds_and_all_three_http_date_forms() {
        assert_eq!(parse_retry_after("120", 5), Some(120_000));
        assert_eq!(parse_retry_after(" 0 ", 5), Some(0));
        assert_eq!(
            parse_retry_after("99999999999999999999999", 0),
            Some(u64::MAX)
        );
        // 1994-11-06T08:49:37Z = 784111777 s.
        let at = 784_111_777_000;
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(date, at - 30_000), Some(30_000), "{date}");
            // A date already past means "now".
            assert_eq!(parse_retry_after(date, at + 1), Some(0), "{date}");
        }
        assert_eq!(
            parse_retry_after("Thu, 29 Feb 2024 23:59:59 GMT", 0),
            Some(1_709_251_199_000)
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn received_offsets_are_bounded_and_on_chunk_boundaries() {
        let size = 3 * UPLOAD_UNIT + 10;
        assert_eq!(check_received(Some("0"), size), Ok(0));
        assert_eq!(check_received(Some("262144"), size), Ok(UPLOAD_UNIT));
        assert_eq!(check_received(Some(" 786432 "), size), Ok(3 * UPLOAD_UNIT));
        assert_eq!(check_received(Some(&size.to_string()), size), Ok(size));
        for bad in [
            None,
            Some(""),
            Some("-1"),
            Some("+5"),
            Some("1e6"),
            Some("12abc"),
            Some("1000"),
            Some("786433"),
            Some("786443"),
            Some("99999999999999999999999"),
        ] {
            assert!(check_received(bad, size).is_err(), "{bad:?}");
        }
        // Past the end is refused even when it is a multiple.
        assert!(check_received(Some(&(4 * UPLOAD_UNIT).to_string()), size).is_err());
    }

    #[test]
    fn only_audio_types_survive_landing() {
        for keep in [
            "audio/webm;codecs=opus",
            "audio/ogg",
            "audio/mp4",
            "audio/mpeg",
            "audio/x-wav",
            "AUDIO/WEBM",
            "video/webm;codecs=opus",
            "video/mp4",
            "application/ogg",
            "audio/webm; codecs=\"opus\"",
        ] {
            assert_eq!(audio_mime(keep), keep);
        }
        for refuse in [
            "",
            "text/html",
            "image/svg+xml",
            "application/javascript",
            "video/quicktime",
            "application/octet-stream",
            "audio",
            "audio/",
            "/webm",
            "audio /webm",
            "audio/we bm",
            "audio/webm\r\nx: y",
            "audio/webm\u{e9}",
            "text/html;x=audio/webm",
        ] {
            assert_eq!(audio_mime(refuse), OCTET_STREAM, "{refuse:?}");
        }
        assert_eq!(
            audio_mime(&format!("audio/{}", "a".repeat(300))),
            OCTET_STREAM
        );
    }

    #[test]
    fn firebase_statuses_map_to_the_documented_codes() {
        let expect = |s| match s {
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            400 | 413 | 422 => ErrorCode::InvalidArgument,
            409 | 412 => ErrorCode::Conflict,
            _ => ErrorCode::Remote,
        };
        for s in 0..=999 {
            assert_eq!(firebase_code(s), expect(s), "{s}");
        }
        assert_eq!(firebase_code(503), ErrorCode::Remote);
        assert_eq!(firebase_code(429), ErrorCode::Remote);
    }

    #[test]
    fn error_messages_come_from_the_body_without_the_status() {
        assert_eq!(
            error_message(
                403,
                r#"{"error":{"code":403,"message":"Permission denied. No WRITE permission."}}"#
            ),
            "Permission denied. No WRITE permission."
        );
        assert_eq!(
            error_message(
                400,
                r#"{"statusCode":"409","error":"Duplicate","message":"exists"}"#
            ),
            "exists"
        );
        assert_eq!(error_message(400, r#"{"error":"Duplicate"}"#), "Duplicate");
        assert_eq!(error_message(404, "Not Found"), "Not Found");
        assert_eq!(error_message(503, "  "), "Service Unavailable");
        assert_eq!(error_message(599, ""), "the server gave no reason");
        assert_eq!(error_message(500, "a\nb"), "a b");
        assert_eq!(error_message(500, &"x".repeat(1000)).chars().count(), 300);
        assert!(!error_message(403, "").contains("403"));
    }

    #[test]
    fn failures_convert_once_with_status_and_code_as_data() {
        let f = Failure::Status {
            status: 403,
            message: "Permission denied. No WRITE permission.".into(),
            retry_after_ms: None,
        }
        .to_core(firebase_code);
        assert_eq!(
            (f.class, f.code, f.status, f.message.as_str()),
            (
                ErrorClass::Permanent,
                ErrorCode::Forbidden,
                Some(403),
                "Permission denied. No WRITE permission."
            )
        );
        let f = Failure::Status {
            status: 503,
            message: error_message(503, ""),
            retry_after_ms: Some(7000),
        }
        .to_core(firebase_code);
        assert_eq!(
            (f.class, f.code, f.retry_after_ms),
            (ErrorClass::Retryable, ErrorCode::Remote, Some(7000))
        );
        assert_eq!(f.message, "Service Unavailable");
        let f = Failure::status_only(401, "getToken() rejected").to_core(firebase_code);
        assert_eq!(
            (f.class, f.code),
            (ErrorClass::NeedsNewToken, ErrorCode::Unauthorized)
        );
        // An answer that does not hold up: retried, Remote, and no status (its outcome is unknown).
        let f = Failure::invalid("the server stored 3 bytes of 4").to_core(firebase_code);
        assert_eq!(
            (f.class, f.code, f.status),
            (ErrorClass::Retryable, ErrorCode::Remote, None)
        );
        for none in [
            Failure::Network("reset".into()),
            Failure::Timeout,
            Failure::Aborted,
        ] {
            let f = none.to_core(firebase_code);
            assert_eq!(
                (f.class, f.code, f.status),
                (ErrorClass::Retryable, ErrorCode::Network, None)
            );
        }
        // No message names its status: that is data now ("HTTP 403: HTTP 403: ..." was the old bug).
        for s in [400, 401, 403, 404, 409, 412, 413, 422, 429, 500, 503] {
            let f = Failure::Status {
                status: s,
                message: error_message(s, ""),
                retry_after_ms: None,
            }
            .to_core(firebase_code);
            assert!(!f.message.contains(&s.to_string()), "{s}: {}", f.message);
            assert!(!f.message.contains("HTTP"), "{s}: {}", f.message);
        }
    }

    #[test]
    fn session_answers_are_read_strictly() {
        let size = 2 * UPLOAD_UNIT + 5;
        assert_eq!(
            session_state(Some("active"), Some("262144"), size),
            Ok(SessionState::Active(UPLOAD_UNIT))
        );
        assert_eq!(
            session_state(None, Some("0"), size),
            Ok(SessionState::Active(0))
        );
        assert_eq!(
            session_state(Some(" Final "), None, size),
            Ok(SessionState::Final)
        );
        assert_eq!(
            session_state(Some("cancelled"), Some("5"), size),
            Ok(SessionState::Gone)
        );
        assert!(session_state(Some("active"), Some("5"), size).is_err());
        assert!(session_state(Some("active"), Some(&(size + 1).to_string()), size).is_err());
        assert!(session_state(Some("active"), None, size).is_err());
        assert!(session_state(Some("paused"), Some("0"), size).is_err());
    }

    #[test]
    fn an_upload_counts_only_when_the_answer_names_our_object_with_our_size() {
        let ok = r#"{"name":"users/u/blobs/r/h","bucket":"bk","size":"4","md5Hash":"x"}"#;
        assert_eq!(stored_size(ok, None, "users/u/blobs/r/h", "bk"), Ok(4));
        assert_eq!(
            stored_size(ok, Some("final"), "users/u/blobs/r/h", "bk"),
            Ok(4)
        );
        assert_eq!(
            stored_size(r#"{"name":"n","bucket":"bk","size":4}"#, None, "n", "bk"),
            Ok(4)
        );
        for (body, status) in [
            (ok, Some("active")),
            (
                r#"{"name":"users/u/blobs/r/other","bucket":"bk","size":"4"}"#,
                None,
            ),
            (
                r#"{"name":"users/u/blobs/r/h","bucket":"other","size":"4"}"#,
                None,
            ),
            (r#"{"name":"users/u/blobs/r/h","size":"4"}"#, None),
            (r#"{"name":"users/u/blobs/r/h","bucket":"bk"}"#, None),
            (
                r#"{"name":"users/u/blobs/r/h","bucket":"bk","size":"-4"}"#,
                None,
            ),
            (
                r#"{"name":"users/u/blobs/r/h","bucket":"bk","size":"4.0"}"#,
                None,
            ),
            (
                r#"{"name":"users/u/blobs/r/h","bucket":"bk","size":-4}"#,
                None,
            ),
            (
                r#"{"name":"users/u/blobs/r/h","bucket":"bk","size":"99999999999999999999999"}"#,
                None,
            ),
            ("OK", None),
            ("", None),
            ("[]", None),
        ] {
            assert!(
                stored_size(body, status, "users/u/blobs/r/h", "bk").is_err(),
                "{body} {status:?}"
            );
        }
    }
}
