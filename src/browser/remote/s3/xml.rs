//! S3's XML answers, read strictly: a minimal parser for the handful of documents S3 sends (no
//! DTDs, no entities but the five predefined and character references, bounded depth and size),
//! and readers for errors, ListObjectsV2, InitiateMultipartUpload, ListParts and
//! CompleteMultipartUpload that check the answer is about what was asked.
//!
//! Why not `quick-xml`: these documents are flat records of text elements; a general streaming
//! parser (and `memchr`) would cost more wasm than this file, and we need none of its features.
//! Pure, so it compiles natively and is tested in `tests/s3.rs`.

/// Largest document read (a ListObjectsV2 page of 1,000 keys is about 300 KB).
const MAX_DOCUMENT: usize = 4 << 20;
/// Deepest nesting S3 uses is 3; anything much deeper is not S3.
const MAX_DEPTH: usize = 8;

/// One element: its local name (namespace prefix dropped), its text, its child elements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    /// The name without a namespace prefix.
    pub name: String,
    /// The text directly inside, entities decoded.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    ///
    /// ```text
    /// parse("<a><b/></a>")?.child("b").is_some()
    /// ```
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child named `name`.
    ///
    /// ```text
    /// parse("<a><b>x</b></a>")?.text_of("b") == Some("x")
    /// ```
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// All children named `name`.
    ///
    /// ```text
    /// root.all("Contents").filter_map(|c| c.text_of("Key"))
    /// ```
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parses a document into its root element.
///
/// ```text
/// parse("<a><b>x &amp; y</b></a>")?.text_of("b") == Some("x & y")
/// ```
pub fn parse(doc: &str) -> Result<Element, String> {
    if doc.len() > MAX_DOCUMENT {
        return Err("the XML answer is too large".into());
    }
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut rest = doc.trim_start_matches('\u{feff}');
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            text(&mut stack, rest)?;
            break;
        };
        text(&mut stack, &rest[..lt])?;
        rest = &rest[lt..];
        if let Some(r) = rest.strip_prefix("<?") {
            rest = after(r, "?>")?;
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = after(r, "-->")?;
        } else if let Some(r) = rest.strip_prefix("<![CDATA[") {
            let end = r.find("]]>").ok_or("unterminated CDATA")?;
            match stack.last_mut() {
                Some(top) => top.text.push_str(&r[..end]),
                None => return Err("text outside the root element".into()),
            }
            rest = &r[end + 3..];
        } else if rest.starts_with("<!") {
            // DOCTYPE and its entity declarations: S3 never sends them.
            return Err("the XML answer has a DTD".into());
        } else if let Some(r) = rest.strip_prefix("</") {
            let end = r.find('>').ok_or("unterminated end tag")?;
            let name = local(r[..end].trim_end());
            let done = stack.pop().ok_or("an end tag without a start")?;
            if done.name != name {
                return Err(format!("<{}> closed by </{name}>", done.name));
            }
            close(&mut stack, &mut root, done)?;
            rest = &r[end + 1..];
        } else {
            let r = &rest[1..];
            let end = tag_end(r).ok_or("unterminated start tag")?;
            let inner = &r[..end];
            let (inner, empty) = match inner.strip_suffix('/') {
                Some(i) => (i, true),
                None => (inner, false),
            };
            let name_end = inner
                .find(|c: char| c.is_ascii_whitespace())
                .unwrap_or(inner.len());
            let name = &inner[..name_end];
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.'))
            {
                return Err(format!("bad element name {name:?}"));
            }
            if root.is_some() {
                return Err("content after the root element".into());
            }
            let element = Element {
                name: local(name).to_owned(),
                ..Element::default()
            };
            if empty {
                close(&mut stack, &mut root, element)?;
            } else {
                if stack.len() >= MAX_DEPTH {
                    return Err("the XML answer nests too deep".into());
                }
                stack.push(element);
            }
            rest = &r[end + 1..];
        }
    }
    if !stack.is_empty() {
        return Err("the XML answer ends inside an element".into());
    }
    root.ok_or_else(|| "the answer is not XML".to_owned())
}

/// Where a start tag's `>` is, skipping quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

fn after<'a>(s: &'a str, end: &str) -> Result<&'a str, String> {
    s.find(end)
        .map(|i| &s[i + end.len()..])
        .ok_or_else(|| format!("unterminated markup (no {end:?})"))
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn close(stack: &mut [Element], root: &mut Option<Element>, done: Element) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(done),
        None => *root = Some(done),
    }
    Ok(())
}

fn text(stack: &mut [Element], raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Ok(());
    }
    match stack.last_mut() {
        Some(top) => {
            top.text.push_str(&unescape(raw)?);
            Ok(())
        }
        None if raw.trim().is_empty() => Ok(()),
        None => Err("text outside the root element".into()),
    }
}

/// Decodes the five predefined entities and character references; any other `&` is an error.
///
/// ```text
/// unescape("&quot;abc&quot; &#x41;&#66;") == Ok("\"abc\" AB".into())
/// ```
pub fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let r = &rest[amp + 1..];
        let semi = r
            .find(';')
            .filter(|&i| i <= 10)
            .ok_or("a bare '&' in the XML")?;
        let entity = &r[..semi];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let n = if let Some(h) = entity.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = entity.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                n.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown XML entity &{entity};"))?
            }
        };
        out.push(c);
        rest = &r[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Escapes text for an element's content (and attribute values).
///
/// ```text
/// escape("\"a\"&<") == "&quot;a&quot;&amp;&lt;"
/// ```
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An S3 error document: `<Error><Code>..</Code><Message>..</Message>...</Error>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Error {
    /// e.g. `AccessDenied`.
    pub code: String,
    /// For people.
    pub message: String,
    /// `ServerTime` of a `RequestTimeTooSkewed` (ISO 8601), if given.
    pub server_time: Option<String>,
}

/// Reads an error document; `None` if `doc` is not one (an empty HEAD answer, HTML from a proxy).
///
/// ```text
/// parse_error("<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>").unwrap().code == "NoSuchKey"
/// ```
pub fn parse_error(doc: &str) -> Option<S3Error> {
    let root = parse(doc).ok()?;
    if root.name != "Error" {
        return None;
    }
    let code = root.text_of("Code")?.trim().to_owned();
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
        return None;
    }
    Some(S3Error {
        code,
        message: root
            .text_of("Message")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        server_time: root.text_of("ServerTime").map(|t| t.trim().to_owned()),
    })
}

/// One page of ListObjectsV2 read against the prefix asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Keys directly under the prefix, relative to it.
    pub names: Vec<String>,
    /// Common prefixes directly under it, relative, without their `/`.
    pub folders: Vec<String>,
    /// The continuation token of the next page.
    pub next: Option<String>,
}

/// Reads a `ListBucketResult` for `prefix` (ending in `/`) in `bucket`. It must name our bucket
/// and prefix; a truncated page must give a token; names not directly under the prefix are
/// dropped (they are not ours to read).
///
/// ```text
/// parse_list(doc, "b", "users/u/log/")?.names == ["d1"]
/// ```
pub fn parse_list(doc: &str, bucket: &str, prefix: &str) -> Result<ListPage, String> {
    let root = parse(doc)?;
    if root.name != "ListBucketResult" {
        return Err(format!("a listing answered <{}>", root.name));
    }
    if root.text_of("Name") != Some(bucket) {
        return Err("the listing is of another bucket".into());
    }
    if root.text_of("Prefix").unwrap_or_default() != prefix {
        return Err("the listing is of another prefix".into());
    }
    if root.text_of("EncodingType").is_some() {
        return Err("the listing's keys are encoded, which was not asked for".into());
    }
    let strip = |s: &str| {
        s.strip_prefix(prefix)
            .map(|rest| rest.strip_suffix('/').unwrap_or(rest))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_owned)
    };
    let names = root
        .all("Contents")
        .filter_map(|c| c.text_of("Key"))
        .filter_map(strip)
        .collect();
    let folders = root
        .all("CommonPrefixes")
        .filter_map(|c| c.text_of("Prefix"))
        .filter(|p| p.ends_with('/'))
        .filter_map(strip)
        .collect();
    let truncated = match root.text_of("IsTruncated").map(str::trim) {
        Some("true") => true,
        Some("false") | None => false,
        Some(other) => return Err(format!("IsTruncated is {other:?}")),
    };
    let next = match (truncated, root.text_of("NextContinuationToken")) {
        (true, Some(t)) if !t.is_empty() => Some(t.to_owned()),
        (true, _) => return Err("a truncated listing without a continuation token".into()),
        (false, _) => None,
    };
    Ok(ListPage {
        names,
        folders,
        next,
    })
}

/// The `UploadId` of an `InitiateMultipartUploadResult` for `key` in `bucket`.
///
/// ```text
/// parse_initiate(doc, "b", "users/u/blobs/r/h")? == "VXBsb2FkIElE"
/// ```
pub fn parse_initiate(doc: &str, bucket: &str, key: &str) -> Result<String, String> {
    let root = parse(doc)?;
    if root.name != "InitiateMultipartUploadResult" {
        return Err(format!(
            "starting a multipart upload answered <{}>",
            root.name
        ));
    }
    check_object(&root, bucket, key)?;
    let id = root.text_of("UploadId").unwrap_or_default().trim();
    if id.is_empty() || id.len() > 1024 || id.chars().any(char::is_control) {
        return Err("the multipart upload has no usable UploadId".into());
    }
    Ok(id.to_owned())
}

fn check_object(root: &Element, bucket: &str, key: &str) -> Result<(), String> {
    if root.text_of("Bucket") != Some(bucket) {
        return Err("the answer is about another bucket".into());
    }
    if root.text_of("Key") != Some(key) {
        return Err("the answer is about another object".into());
    }
    Ok(())
}

/// A part the server holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// 1-based.
    pub number: u32,
    /// As the server gave it, quotes included.
    pub etag: String,
    /// Bytes.
    pub size: u64,
}

/// One page of `ListPartsResult` for `upload_id` of `key`: the parts, and the marker of the next
/// page.
///
/// ```text
/// let (parts, next) = parse_parts(doc, "b", "k", "id")?;
/// ```
pub fn parse_parts(
    doc: &str,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<(Vec<Part>, Option<u32>), String> {
    let root = parse(doc)?;
    // moto 5.2.5 names the root `ListPartsResponse` (S3: `ListPartsResult`); the content is the
    // same and is checked below either way.
    if root.name != "ListPartsResult" && root.name != "ListPartsResponse" {
        return Err(format!("listing parts answered <{}>", root.name));
    }
    check_object(&root, bucket, key)?;
    if root.text_of("UploadId").map(str::trim) != Some(upload_id) {
        return Err("the parts listed are of another upload".into());
    }
    let mut parts = Vec::new();
    for p in root.all("Part") {
        let number = decimal(p.text_of("PartNumber"))
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=10_000).contains(n))
            .ok_or("a part without a valid PartNumber")?;
        let size = decimal(p.text_of("Size")).ok_or("a part without a valid Size")?;
        let etag = p.text_of("ETag").unwrap_or_default().trim().to_owned();
        if etag.is_empty() || etag.chars().any(char::is_control) {
            return Err(format!("part {number} has no ETag"));
        }
        parts.push(Part { number, etag, size });
    }
    let next = match root.text_of("IsTruncated").map(str::trim) {
        Some("true") => Some(
            decimal(root.text_of("NextPartNumberMarker"))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or("a truncated parts listing without a marker")?,
        ),
        _ => None,
    };
    Ok((parts, next))
}

fn decimal(text: Option<&str>) -> Option<u64> {
    let t = text?.trim();
    (!t.is_empty() && t.len() <= 19 && t.bytes().all(|b| b.is_ascii_digit()))
        .then(|| t.parse().ok())
        .flatten()
}

/// Checks a `CompleteMultipartUploadResult` names `key` in `bucket` and has an ETag. S3 may
/// answer 200 with an `<Error>` document here: that is an error, with its code.
///
/// ```text
/// parse_complete(doc, "b", "k")?;
/// ```
pub fn parse_complete(doc: &str, bucket: &str, key: &str) -> Result<(), CompleteError> {
    if let Some(e) = parse_error(doc) {
        return Err(CompleteError::S3(e));
    }
    let root = parse(doc).map_err(CompleteError::Invalid)?;
    if root.name != "CompleteMultipartUploadResult" {
        return Err(CompleteError::Invalid(format!(
            "completing the upload answered <{}>",
            root.name
        )));
    }
    check_object(&root, bucket, key).map_err(CompleteError::Invalid)?;
    if root.text_of("ETag").unwrap_or_default().trim().is_empty() {
        return Err(CompleteError::Invalid(
            "the completed upload has no ETag".into(),
        ));
    }
    Ok(())
}

/// Why a completion failed although the status was fine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompleteError {
    /// An error document.
    S3(S3Error),
    /// An answer that does not hold up.
    Invalid(String),
}

/// The `CompleteMultipartUpload` body for `etags` (part 1 first).
///
/// ```text
/// complete_body(&["\"a\"".into()]) == "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part></CompleteMultipartUpload>"
/// ```
pub fn complete_body(etags: &[String]) -> String {
    let mut out = String::from("<CompleteMultipartUpload>");
    for (i, etag) in etags.iter().enumerate() {
        out.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            i + 1,
            escape(etag)
        ));
    }
    out.push_str("</CompleteMultipartUpload>");
    out
}
