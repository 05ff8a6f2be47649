//! The pure rules of the S3 backend: where a request goes (path-style or virtual-hosted), which
//! names and part sizes are acceptable, and what S3's error codes mean to the sync core.
//!
//! No IO and no JS: compiled natively and tested in `tests/s3.rs` (the virtual-hosted builder
//! against AWS's documented examples, since only path-style can be exercised locally).

use crate::core::error_class::{classify, ErrorClass, ErrorCode};

use super::sigv4::uri_encode;

/// S3 refuses non-last parts smaller than this (5 MiB).
pub const MIN_PART: f64 = 5.0 * 1024.0 * 1024.0;
/// Nor parts larger than this (5 GiB).
pub const MAX_PART: f64 = 5.0 * 1024.0 * 1024.0 * 1024.0;
/// Nor more parts than this.
pub const MAX_PARTS: u32 = 10_000;
/// S3's tolerance for a request's time is 15 minutes; beyond 10 a refusal is taken as skew.
pub const SKEW_MS: f64 = 10.0 * 60_000.0;

/// An endpoint's scheme and authority (`host[:port]`, lowercase, default port omitted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `https` or `http`.
    pub scheme: String,
    /// `host` or `host:port`.
    pub authority: String,
}

impl Endpoint {
    /// Reads an endpoint URL that passed `check_base_url`; it must not have a path either.
    ///
    /// ```text
    /// Endpoint::parse("https://s3.eu-west-1.amazonaws.com")?.authority == "s3.eu-west-1.amazonaws.com"
    /// ```
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let (scheme, rest) = url.split_once("://").ok_or("is not an absolute URL")?;
        let scheme = scheme.to_ascii_lowercase();
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err("must be a scheme and a host (and port), without a path".into());
        }
        let mut authority = rest.to_ascii_lowercase();
        let default = if scheme == "https" { ":443" } else { ":80" };
        if let Some(a) = authority.strip_suffix(default) {
            authority = a.to_owned();
        }
        Ok(Endpoint { scheme, authority })
    }

    /// The host without the port.
    ///
    /// ```text
    /// Endpoint::parse("http://127.0.0.1:9000")?.host() == "127.0.0.1"
    /// ```
    pub fn host(&self) -> &str {
        if self.authority.starts_with('[') {
            return self
                .authority
                .split_once(']')
                .map(|(h, _)| &h[1..])
                .unwrap_or(&self.authority);
        }
        self.authority.split(':').next().unwrap_or(&self.authority)
    }

    /// The origin, `scheme://authority`.
    ///
    /// ```text
    /// Endpoint::parse("HTTPS://S3.amazonaws.com:443")?.origin() == "https://s3.amazonaws.com"
    /// ```
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

/// `pathStyle`'s default: false (virtual-hosted) for AWS's own `*.amazonaws.com`, true for
/// S3-compatible servers (most want the bucket in the path).
///
/// ```text
/// default_path_style("s3.eu-west-1.amazonaws.com") == false
/// ```
pub fn default_path_style(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    !(host.ends_with(".amazonaws.com") || host == "amazonaws.com")
}

/// Whether `bucket` can be a host label under TLS: DNS-compatible, no dots (a dot would not
/// match the `*.s3...` certificate).
///
/// ```text
/// virtual_hostable("my-bucket") && !virtual_hostable("www.example.com")
/// ```
pub fn virtual_hostable(bucket: &str) -> bool {
    (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !bucket.starts_with('-')
        && !bucket.ends_with('-')
}

/// Whether `bucket` is a bucket name (S3's rules: 3 to 63 of `a-z0-9.-`, starting and ending
/// with a letter or digit).
///
/// ```text
/// check_bucket("my-recordings").is_ok() && check_bucket("My_Bucket").is_err()
/// ```
pub fn check_bucket(bucket: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err("must be 3 to 63 lowercase letters, digits, '-' and '.'".into())
    }
}

/// Whether `prefix` (no leading or trailing `/`) is folders of letters, digits, `-`, `_`, `.`
/// and `:` (identity providers' ids such as Cognito's `eu-west-1:7d3c...`).
///
/// ```text
/// check_prefix("users/eu-west-1:7d3c/recordings").is_ok() && check_prefix("a//b").is_err()
/// ```
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Ok(());
    }
    let ok = prefix.split('/').all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    });
    if ok {
        Ok(())
    } else {
        Err("must be folders of letters, digits, '-', '_', '.' and ':', separated by '/'".into())
    }
}

/// Where a request for `key` goes: the `Host` (authority) and the encoded path. `key` `""` is the
/// bucket itself (ListObjectsV2).
///
/// ```text
/// target(&Endpoint::parse("https://s3.us-west-2.amazonaws.com")?, "my-bucket", false, "puppy.png")
///     == ("my-bucket.s3.us-west-2.amazonaws.com".into(), "/puppy.png".into())
/// ```
pub fn target(endpoint: &Endpoint, bucket: &str, path_style: bool, key: &str) -> (String, String) {
    let key = uri_encode(key, true);
    if path_style || !virtual_hostable(bucket) {
        let path = if key.is_empty() {
            format!("/{bucket}")
        } else {
            format!("/{bucket}/{key}")
        };
        (endpoint.authority.clone(), path)
    } else {
        (
            format!("{bucket}.{}", endpoint.authority),
            format!("/{key}"),
        )
    }
}

/// Whether `bytes` may be the part size of a multipart upload.
///
/// ```text
/// check_part(6.0 * 1048576.0).is_ok() && check_part(4.0 * 1048576.0).is_err()
/// ```
pub fn check_part(bytes: f64) -> Result<(), String> {
    if bytes.fract() == 0.0 && (MIN_PART..=MAX_PART).contains(&bytes) {
        Ok(())
    } else {
        Err("S3 takes parts of 5 MiB (5242880 bytes) to 5 GiB".into())
    }
}

/// How many parts of `chunk` bytes hold `size` bytes; an error beyond S3's 10,000.
///
/// ```text
/// part_count(20.0 * 1048576.0, 6.0 * 1048576.0) == Ok(4)
/// ```
pub fn part_count(size: f64, chunk: f64) -> Result<u32, String> {
    if chunk.is_nan() || size.is_nan() || chunk < 1.0 || size < 0.0 {
        return Err("bad part size".into());
    }
    let n = (size / chunk).ceil().max(1.0);
    if n > f64::from(MAX_PARTS) {
        return Err(format!(
            "{size} bytes in parts of {chunk} would take more than {MAX_PARTS} parts"
        ));
    }
    Ok(n as u32)
}

/// The byte range `[start, end)` of part `n` (1-based).
///
/// ```text
/// part_range(2, 10.0, 6.0) == (6.0, 10.0)
/// ```
pub fn part_range(n: u32, size: f64, chunk: f64) -> (f64, f64) {
    let start = f64::from(n - 1) * chunk;
    (start, (start + chunk).min(size))
}

/// An S3 failure's meaning, from its error code when the body had one, else its status:
/// the class (retry, new credentials, give up) and tapesync's code.
///
/// ```text
/// meaning(400, Some("ExpiredToken")) == (ErrorClass::NeedsNewToken, ErrorCode::Unauthorized)
/// meaning(403, Some("AccessDenied")) == (ErrorClass::Permanent, ErrorCode::Forbidden)
/// ```
pub fn meaning(status: u16, code: Option<&str>) -> (ErrorClass, ErrorCode) {
    use ErrorClass::*;
    match code.unwrap_or_default() {
        "ExpiredToken"
        | "InvalidToken"
        | "TokenRefreshRequired"
        | "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "MissingSecurityHeader" => (NeedsNewToken, ErrorCode::Unauthorized),
        "AccessDenied" | "AllAccessDisabled" | "AccountProblem" | "InvalidPayer" => {
            (Permanent, ErrorCode::Forbidden)
        }
        "SlowDown"
        | "ServiceUnavailable"
        | "InternalError"
        | "RequestTimeTooSkewed"
        | "XAmzContentSHA256Mismatch"
        | "BadDigest"
        | "OperationAborted" => (Retryable, ErrorCode::Remote),
        "RequestTimeout" => (Retryable, ErrorCode::Network),
        "NoSuchKey" | "NoSuchUpload" | "NoSuchBucket" => (Permanent, ErrorCode::NotFound),
        "PreconditionFailed" | "ConditionalRequestConflict" => (Permanent, ErrorCode::Conflict),
        "EntityTooSmall" | "EntityTooLarge" | "InvalidArgument" | "InvalidPart"
        | "InvalidPartOrder" | "MalformedXML" | "InvalidDigest" | "InvalidRequest"
        | "KeyTooLongError" | "InvalidBucketName" => (Permanent, ErrorCode::InvalidArgument),
        _ => (
            classify(Some(status)),
            match status {
                401 => ErrorCode::Unauthorized,
                403 => ErrorCode::Forbidden,
                404 => ErrorCode::NotFound,
                400 | 411 | 413 | 414 | 422 => ErrorCode::InvalidArgument,
                409 | 412 => ErrorCode::Conflict,
                _ => ErrorCode::Remote,
            },
        ),
    }
}

/// The message of an S3 error as this backend carries it: `"{Code}: {Message}"`, at most 300
/// characters, control characters blanked. (The backend's failure type has no room for S3's
/// code, so it travels in front of the message, written and read only by this module.)
///
/// ```text
/// message("AccessDenied", "Access Denied") == "AccessDenied: Access Denied"
/// ```
pub fn message(code: &str, text: &str) -> String {
    let text = if text.trim().is_empty() { code } else { text };
    format!("{code}: {text}")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect()
}

/// The S3 code a [`message`] starts with, if any.
///
/// ```text
/// code_of("ExpiredToken: The provided token has expired.") == Some("ExpiredToken")
/// ```
pub fn code_of(message: &str) -> Option<&str> {
    let (code, _) = message.split_once(": ")?;
    (!code.is_empty() && code.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(code)
}
