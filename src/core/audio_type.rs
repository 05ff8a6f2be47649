//! Which declared types are kept as audio.
//!
//! A recording's type comes from another device's log, so it is not trusted: only audio types
//! (and the containers MediaRecorder writes) are kept, so that a log cannot make an app treat the
//! bytes as a page, an image or a script. Applied where segments are decoded and where downloaded
//! audio lands.

/// The type audio is stored with when the type it declares is not audio.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// The `Content-Type` to store downloaded audio with, given the type its recording declares (which
/// came from another device's log): kept if it is audio, i.e. `audio/*` or one of the containers
/// MediaRecorder writes (`video/webm`, `video/mp4`, `application/ogg`), with any parameters;
/// otherwise [`OCTET_STREAM`], so that a log cannot make the app treat the bytes as a page, an
/// image or a script.
///
/// ```
/// use tapesync::core::audio_type::audio_mime;
/// assert_eq!(audio_mime("audio/webm;codecs=opus"), "audio/webm;codecs=opus");
/// assert_eq!(audio_mime("video/mp4"), "video/mp4");
/// assert_eq!(audio_mime("text/html"), "application/octet-stream");
/// assert_eq!(audio_mime("audio/\u{7f}x"), "application/octet-stream");
/// ```
pub fn audio_mime(declared: &str) -> &str {
    fn token(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    }
    // A Blob's type must be printable ASCII (else the browser drops it); parameters stay as given.
    if declared.len() > 255 || !declared.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return OCTET_STREAM;
    }
    let essence = declared.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return OCTET_STREAM;
    };
    if !token(kind) || !token(subtype) {
        return OCTET_STREAM;
    }
    let (kind, subtype) = (kind.to_ascii_lowercase(), subtype.to_ascii_lowercase());
    match (kind.as_str(), subtype.as_str()) {
        ("audio", _) | ("video", "webm" | "mp4") | ("application", "ogg") => declared,
        _ => OCTET_STREAM,
    }
}
