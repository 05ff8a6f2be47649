//! Supabase Storage's answers, checked: pure rules (no IO, no JS) for its error dialect, its
//! object and listing JSON, and TUS offsets. The only place in tapesync that reads a server's
//! message (to tell an expired JWT from a row-level-security refusal; both are `"403"`).

use crate::core::error_class::ErrorCode;

use super::super::wire::{self, Failure};
use super::super::Listing;

/// Bytes of every TUS chunk but the last: Supabase's resumable endpoint takes exactly 6 MiB.
pub const CHUNK: u64 = 6 * 1024 * 1024;

/// The message jose gives for an expired JWT, which Supabase answers as HTTP 400 with
/// `statusCode "403"`, like a refusal by row-level security.
pub const EXPIRED_JWT: &str = "\"exp\" claim timestamp check failed";

/// Whether `failure` is Supabase saying the token has expired (a 401 in all but name): the
/// caller asks `getToken` again and treats it as Unauthorized.
///
/// ```text
/// is_expired_jwt(&Failure::status_only(403, "\"exp\" claim timestamp check failed")) == true
/// is_expired_jwt(&Failure::status_only(403, "new row violates row-level security policy")) == false
/// ```
pub fn is_expired_jwt(failure: &Failure) -> bool {
    matches!(failure, Failure::Status { status: 403, message, .. } if message.contains(EXPIRED_JWT))
}

/// Supabase Storage's statuses (the body's `statusCode` where the HTTP status is 400) as error
/// codes: 401 Unauthorized, 403 Forbidden (AccessDenied), 404 NotFound (not_found), 409 and 412
/// Conflict (Duplicate: for a create-only write the engine then checks the stored size),
/// 400/413/422 InvalidArgument, anything else Remote.
///
/// ```text
/// supabase_code(409) == ErrorCode::Conflict
/// supabase_code(413) == ErrorCode::InvalidArgument
/// ```
pub fn supabase_code(status: u16) -> ErrorCode {
    match status {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        409 | 412 => ErrorCode::Conflict,
        400 | 413 | 422 => ErrorCode::InvalidArgument,
        _ => ErrorCode::Remote,
    }
}

/// Checks the answer of `POST /object/{bucket}/{name}`: `{"Key": "{bucket}/{name}", ...}`.
///
/// ```text
/// check_uploaded(r#"{"Key":"recordings/u/a","Id":"x"}"#, "recordings", "u/a") == Ok(())
/// ```
pub fn check_uploaded(body: &str, bucket: &str, name: &str) -> Result<(), String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|_| "the upload's answer is not JSON".to_owned())?;
    let want = format!("{bucket}/{name}");
    match v.get("Key").and_then(|k| k.as_str()) {
        Some(k) if k == want => Ok(()),
        other => Err(format!(
            "the upload's answer is about {other:?}, not {want:?}"
        )),
    }
}

/// The size in the answer of the info route (`{name, bucket_id, size, ...}`), which must be about
/// `name` in `bucket`.
///
/// ```text
/// info_size(r#"{"name":"u/a","bucket_id":"recordings","size":4}"#, "recordings", "u/a") == Ok(4)
/// ```
pub fn info_size(body: &str, bucket: &str, name: &str) -> Result<u64, String> {
    let v: serde_json::Value = serde_json::from_str(body)
        .ok()
        .filter(|v: &serde_json::Value| v.is_object())
        .ok_or_else(|| "the object info is not a JSON object".to_owned())?;
    let got = v.get("name").and_then(|n| n.as_str());
    if got != Some(name) {
        return Err(format!("the object info is about {got:?}, not {name:?}"));
    }
    // storage-js camelCases it; the server sends bucket_id. Either, when present, must be ours.
    let b = v
        .get("bucket_id")
        .or_else(|| v.get("bucketId"))
        .and_then(|b| b.as_str());
    if b.is_some_and(|b| b != bucket) {
        return Err(format!(
            "the object info is about bucket {b:?}, not {bucket:?}"
        ));
    }
    match v.get("size") {
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| format!("the object size {n} is not a byte count")),
        other => Err(format!("the object info has no size ({other:?})")),
    }
}

/// A page token of ours: which listing route made it, and where it goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Page {
    /// list-v2's opaque cursor.
    Cursor(String),
    /// list (v1)'s offset.
    Offset(u64),
}

impl Page {
    /// Reads a token made by [`Page::token`]; anything else starts from the beginning of v2.
    ///
    /// ```text
    /// Page::parse(Some("o:1000")) == Some(Page::Offset(1000))
    /// ```
    pub fn parse(token: Option<&str>) -> Option<Page> {
        let t = token?;
        if let Some(c) = t.strip_prefix("c:") {
            return Some(Page::Cursor(c.to_owned()));
        }
        t.strip_prefix("o:")
            .and_then(|n| n.parse().ok())
            .map(Page::Offset)
    }

    /// The token to hand the engine.
    pub fn token(&self) -> String {
        match self {
            Page::Cursor(c) => format!("c:{c}"),
            Page::Offset(n) => format!("o:{n}"),
        }
    }
}

/// Keeps only names directly under `prefix` (which ends with `/`), made relative to it.
fn strip(name: &str, prefix: &str) -> Option<String> {
    name.strip_prefix(prefix)
        .map(|rest| rest.strip_suffix('/').unwrap_or(rest))
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
        .map(str::to_owned)
}

/// Reads a list-v2 answer (`{hasNext, nextCursor, folders: [{name}], objects: [{name}]}`, names
/// full paths, folders ending in `/`) for the folder `prefix` (ending in `/`). A `hasNext`
/// without a cursor that moves on cannot be followed: it is an error, not an endless loop.
///
/// ```text
/// parse_list_v2(r#"{"hasNext":false,"folders":[{"name":"p/log/"}],"objects":[{"name":"p/a"}]}"#, "p/")
/// ```
pub fn parse_list_v2(body: &str, prefix: &str, cursor: Option<&str>) -> Result<Listing, String> {
    // Through `serde_json::Value` rather than a derive per answer (issue 14: size).
    let unreadable = |e: String| format!("unreadable list-v2 answer: {e}");
    let a = wire::json_object(body, "list-v2 answer")?;
    let has_next = a
        .get("hasNext")
        .and_then(|h| h.as_bool())
        .ok_or_else(|| unreadable("hasNext is not a boolean".into()))?;
    let objects = wire::json_names(&a, "objects", Some("name")).map_err(unreadable)?;
    let folders = wire::json_names(&a, "folders", Some("name")).map_err(unreadable)?;
    let next_page_token = if has_next {
        let next = wire::json_opt_string(&a, "nextCursor")
            .map_err(unreadable)?
            .filter(|c| !c.is_empty() && Some(c.as_str()) != cursor)
            .ok_or_else(|| "the listing says there is more but gives no new cursor".to_owned())?;
        Some(Page::Cursor(next).token())
    } else {
        None
    };
    Ok(Listing {
        names: objects.iter().filter_map(|o| strip(o, prefix)).collect(),
        folders: folders.iter().filter_map(|f| strip(f, prefix)).collect(),
        next_page_token,
    })
}

/// Reads a list (v1) answer (`[{name, id}]`, names relative to the folder, folders with `id:
/// null`) of at most `limit` rows, read from `offset`.
///
/// ```text
/// parse_list_v1(r#"[{"name":"log","id":null},{"name":"a","id":"x"}]"#, 0, 1000)
/// ```
pub fn parse_list_v1(body: &str, offset: u64, limit: u64) -> Result<Listing, String> {
    struct Row<'a> {
        name: &'a str,
        id: Option<String>,
    }
    // Through `serde_json::Value` rather than a derive (issue 14: size): rows of a string `name`
    // and an `id` that is a string (an object) or null/absent (a folder).
    let unreadable = |e: &str| format!("unreadable listing: {e}");
    let rows = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(rows)) => rows,
        _ => return Err(unreadable("not a JSON array")),
    };
    let rows = rows
        .iter()
        .map(|r| {
            let name = r.get("name").and_then(|n| n.as_str());
            let id = wire::json_opt_string(r, "id");
            match (name, id) {
                (Some(name), Ok(id)) => Ok(Row { name, id }),
                _ => Err(unreadable("a row without a name or with a bad id")),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if rows.len() as u64 > limit {
        return Err(format!(
            "the listing has {} rows, more than the {limit} asked for",
            rows.len()
        ));
    }
    let keep = |n: &str| (!n.is_empty() && !n.contains('/')).then(|| n.to_owned());
    let next_page_token =
        (rows.len() as u64 == limit).then(|| Page::Offset(offset + limit).token());
    Ok(Listing {
        names: rows
            .iter()
            .filter(|r| r.id.is_some())
            .filter_map(|r| keep(r.name))
            .collect(),
        folders: rows
            .iter()
            .filter(|r| r.id.is_none())
            .filter_map(|r| keep(r.name))
            .collect(),
        next_page_token,
    })
}

/// A TUS `Upload-Offset` for an upload of `size` bytes, if it can be true: a plain decimal number
/// at most `size`. (Unlike Google's protocol, an interrupted PATCH may leave any offset: the
/// server keeps what arrived.) `length`, the `Upload-Length` when the server sends it, must be
/// `size`.
///
/// ```text
/// tus_offset(Some("6291456"), Some("20000000"), 20_000_000) == Ok(6291456)
/// tus_offset(Some("20000001"), None, 20_000_000).is_err()
/// ```
pub fn tus_offset(offset: Option<&str>, length: Option<&str>, size: u64) -> Result<u64, String> {
    let number = |v: &str| {
        let v = v.trim();
        (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse::<u64>().ok())
            .flatten()
    };
    if let Some(l) = length {
        if number(l) != Some(size) {
            return Err(format!("the upload session is for {l:?} bytes, not {size}"));
        }
    }
    let raw = offset.ok_or_else(|| "the server gave no Upload-Offset".to_owned())?;
    let got = number(raw).ok_or_else(|| format!("the server's Upload-Offset is {raw:?}"))?;
    if got > size {
        return Err(format!(
            "the server says it holds {got} bytes of an upload of {size}"
        ));
    }
    Ok(got)
}

/// TUS `Upload-Metadata`: comma-separated `key base64(value)` pairs.
///
/// ```text
/// tus_metadata(&[("bucketName", "recordings")]) == "bucketName cmVjb3JkaW5ncw=="
/// ```
pub fn tus_metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", base64(v.as_bytes())))
        .collect::<Vec<_>>()
        .join(",")
}

/// Standard base64 with padding (a dozen lines instead of a crate).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether `bytes` per chunk suits Supabase's resumable uploads, with the message otherwise.
///
/// ```text
/// check_chunk(6291456.0) == Ok(())
/// check_chunk(262144.0).is_err()
/// ```
pub fn check_chunk(bytes: f64) -> Result<(), String> {
    if bytes == CHUNK as f64 {
        Ok(())
    } else {
        Err(format!(
            "Supabase Storage takes resumable chunks of exactly {CHUNK} bytes (6 MiB) only"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"recordings"), "cmVjb3JkaW5ncw==");
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
    }

    #[test]
    fn only_the_exp_message_is_an_expired_jwt() {
        assert!(is_expired_jwt(&Failure::status_only(403, EXPIRED_JWT)));
        for other in [
            Failure::status_only(403, "new row violates row-level security policy"),
            Failure::status_only(403, "signature verification failed"),
            Failure::status_only(404, EXPIRED_JWT),
            Failure::Network(EXPIRED_JWT.into()),
        ] {
            assert!(!is_expired_jwt(&other), "{other:?}");
        }
    }

    #[test]
    fn offsets_are_bounded_and_lengths_must_match() {
        assert_eq!(tus_offset(Some("0"), None, 10), Ok(0));
        assert_eq!(tus_offset(Some(" 10 "), Some("10"), 10), Ok(10));
        assert_eq!(tus_offset(Some("3"), None, 10), Ok(3));
        for (o, l) in [
            (None, None),
            (Some("11"), None),
            (Some("-1"), None),
            (Some("1e3"), None),
            (Some(""), None),
            (Some("1"), Some("11")),
            (Some("1"), Some("x")),
        ] {
            assert!(tus_offset(o, l, 10).is_err(), "{o:?} {l:?}");
        }
    }

    #[test]
    fn listings_keep_what_is_directly_in_the_folder() {
        let v2 = r#"{"hasNext":true,"nextCursor":"abc","folders":[{"name":"p/log/","id":null},{"name":"q/x/"}],
                     "objects":[{"name":"p/a","id":"1"},{"name":"p/log/deep","id":"2"}]}"#;
        let l = parse_list_v2(v2, "p/", None).unwrap();
        assert_eq!(l.folders, vec!["log"]);
        assert_eq!(l.names, vec!["a"]);
        assert_eq!(l.next_page_token.as_deref(), Some("c:abc"));
        assert_eq!(Page::parse(Some("c:abc")), Some(Page::Cursor("abc".into())));
        // A cursor that does not move would loop forever.
        assert!(parse_list_v2(v2, "p/", Some("abc")).is_err());
        assert!(
            parse_list_v2(r#"{"hasNext":true,"folders":[],"objects":[]}"#, "p/", None).is_err()
        );
        let v1 = r#"[{"name":"log","id":null},{"name":"a","id":"1"},{"name":"x/y","id":"2"}]"#;
        let l = parse_list_v1(v1, 0, 3).unwrap();
        assert_eq!(
            (l.folders, l.names),
            (vec!["log".to_owned()], vec!["a".to_owned()])
        );
        assert_eq!(l.next_page_token.as_deref(), Some("o:3"));
        assert_eq!(parse_list_v1(v1, 0, 1000).unwrap().next_page_token, None);
        assert!(parse_list_v1(v1, 0, 2).is_err());
        assert_eq!(Page::parse(Some("o:3")), Some(Page::Offset(3)));
        assert_eq!(Page::parse(Some("o:x")), None);
        // Malformed answers are errors, not empty listings.
        for bad in [
            r#"{"folders":[],"objects":[]}"#,
            r#"{"hasNext":false,"objects":[{"id":"1"}]}"#,
            "[]",
        ] {
            assert!(parse_list_v2(bad, "p/", None).is_err(), "{bad}");
        }
        for bad in [r#"[{"id":"1"}]"#, r#"[{"name":"a","id":3}]"#, "{}"] {
            assert!(parse_list_v1(bad, 0, 10).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_must_name_our_object() {
        assert_eq!(
            check_uploaded(r#"{"Key":"b/u/a","Id":"1"}"#, "b", "u/a"),
            Ok(())
        );
        assert!(check_uploaded(r#"{"Key":"b/u/other"}"#, "b", "u/a").is_err());
        assert!(check_uploaded("OK", "b", "u/a").is_err());
        assert_eq!(
            info_size(r#"{"name":"u/a","bucket_id":"b","size":4}"#, "b", "u/a"),
            Ok(4)
        );
        for bad in [
            r#"{"name":"u/x","bucket_id":"b","size":4}"#,
            r#"{"name":"u/a","bucket_id":"c","size":4}"#,
            r#"{"name":"u/a","bucket_id":"b","size":"4"}"#,
            r#"{"name":"u/a","bucket_id":"b","size":-4}"#,
            r#"{"name":"u/a","bucket_id":"b"}"#,
            "[]",
        ] {
            assert!(info_size(bad, "b", "u/a").is_err(), "{bad}");
        }
    }

    #[test]
    fn only_six_mebibyte_chunks_are_taken() {
        assert_eq!(check_chunk(6_291_456.0), Ok(()));
        for bad in [262_144.0, 6_291_455.0, 12_582_912.0, 0.0] {
            assert!(check_chunk(bad).unwrap_err().contains("6291456"));
        }
        assert_eq!(supabase_code(409), ErrorCode::Conflict);
        assert_eq!(supabase_code(404), ErrorCode::NotFound);
        assert_eq!(supabase_code(403), ErrorCode::Forbidden);
        assert_eq!(supabase_code(413), ErrorCode::InvalidArgument);
        assert_eq!(supabase_code(503), ErrorCode::Remote);
    }
}
