//! The pure parts of the S3 backend (`src/browser/remote/s3/{sigv4,xml,rules}.rs`), tested natively
//! against AWS's published examples: the rest of `browser` is wasm32 only.

pub use tapesync::core;

#[path = "../src/browser/remote/s3/sigv4.rs"]
#[allow(dead_code)]
mod sigv4;

#[path = "../src/browser/remote/s3/xml.rs"]
#[allow(dead_code)]
mod xml;

#[path = "../src/browser/remote/s3/rules.rs"]
#[allow(dead_code)]
mod rules;

use core::error_class::{ErrorClass, ErrorCode};
use rules::Endpoint;
use sigv4::{Credentials, Request, Scope, EMPTY_SHA256, UNSIGNED_PAYLOAD};

/// AWS's example credentials (S3 API reference, "Signature Calculations for the Authorization
/// Header" and "Query String Authentication"), and their time: 2013-05-24T00:00:00Z.
fn example() -> (Credentials, u64) {
    (
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        },
        1_369_353_600_000,
    )
}

fn authorization(headers: &[(String, String)]) -> &str {
    &headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1
}

fn signed(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    payload: &str,
) -> Vec<(String, String)> {
    let (creds, now_ms) = example();
    let query: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let req = Request {
        method,
        host: "examplebucket.s3.amazonaws.com",
        path,
        query: &query,
        headers: &headers,
        payload_hash: payload,
    };
    sigv4::sign_headers(
        &req,
        &creds,
        &Scope {
            region: "us-east-1",
            service: "s3",
            now_ms,
        },
    )
}

#[test]
fn header_signing_reproduces_aws_get_object_example() {
    let h = signed(
        "GET",
        "/test.txt",
        &[],
        &[("range", "bytes=0-9")],
        EMPTY_SHA256,
    );
    assert_eq!(
        authorization(&h),
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
         Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
    assert!(h.contains(&("x-amz-date".into(), "20130524T000000Z".into())));
    assert!(h.contains(&("x-amz-content-sha256".into(), EMPTY_SHA256.into())));
}

#[test]
fn header_signing_reproduces_aws_put_object_example() {
    let body = b"Welcome to Amazon S3.";
    let hash = sigv4::sha256_hex(body);
    assert_eq!(
        hash,
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    );
    // The key `test$file.text`: '$' is encoded in the path as S3 canonicalises it.
    let path = format!("/{}", sigv4::encode_path("test$file.text"));
    assert_eq!(path, "/test%24file.text");
    let h = signed(
        "PUT",
        &path,
        &[],
        &[
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ],
        &hash,
    );
    assert!(authorization(&h).ends_with(
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, \
         Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    ));
}

#[test]
fn header_signing_reproduces_aws_bucket_examples() {
    let h = signed("GET", "/", &[("lifecycle", "")], &[], EMPTY_SHA256);
    assert!(authorization(&h)
        .ends_with("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"));
    let h = signed(
        "GET",
        "/",
        &[("prefix", "J"), ("max-keys", "2")],
        &[],
        EMPTY_SHA256,
    );
    assert!(authorization(&h)
        .ends_with("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
}

#[test]
fn query_signing_reproduces_aws_presigned_url_example() {
    let (creds, now_ms) = example();
    let req = Request {
        method: "GET",
        host: "examplebucket.s3.amazonaws.com",
        path: "/test.txt",
        query: &[],
        headers: &[],
        payload_hash: UNSIGNED_PAYLOAD,
    };
    let q = sigv4::presign_query(
        &req,
        &creds,
        &Scope {
            region: "us-east-1",
            service: "s3",
            now_ms,
        },
        86400,
    );
    assert_eq!(
        q,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
         &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );
}

#[test]
fn session_tokens_are_signed_and_secrets_never_printed() {
    let (mut creds, now_ms) = example();
    creds.session_token = Some("FwoGZX/token+=".into());
    let req = Request {
        method: "GET",
        host: "h",
        path: "/b/k",
        query: &[],
        headers: &[],
        payload_hash: EMPTY_SHA256,
    };
    let h = sigv4::sign_headers(
        &req,
        &creds,
        &Scope {
            region: "us-east-1",
            service: "s3",
            now_ms,
        },
    );
    assert!(h.contains(&("x-amz-security-token".into(), "FwoGZX/token+=".into())));
    assert!(authorization(&h)
        .contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"));
    let printed = format!("{creds:?}");
    assert!(
        !printed.contains("EXAMPLEKEY") && !printed.contains("token"),
        "{printed}"
    );
}

#[test]
fn encoding_dates_and_queries_follow_sigv4() {
    assert_eq!(
        sigv4::uri_encode("a b+c/d:e~f*", false),
        "a%20b%2Bc%2Fd%3Ae~f%2A"
    );
    assert_eq!(
        sigv4::encode_path("users/eu-west-1:7d3c/x y"),
        "users/eu-west-1%3A7d3c/x%20y"
    );
    assert_eq!(sigv4::uri_encode("é", false), "%C3%A9");
    let q = |pairs: &[(&str, &str)]| {
        sigv4::canonical_query(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        q(&[
            ("prefix", "users/a/"),
            ("list-type", "2"),
            ("delimiter", "/")
        ]),
        "delimiter=%2F&list-type=2&prefix=users%2Fa%2F"
    );
    assert_eq!(q(&[("uploads", "")]), "uploads=");
    assert_eq!(sigv4::amz_date(0), "19700101T000000Z");
    assert_eq!(sigv4::amz_date(1_709_251_199_999), "20240229T235959Z");
    assert_eq!(sigv4::amz_date(1_764_547_200_000), "20251201T000000Z");
}

#[test]
fn urls_are_virtual_hosted_as_aws_documents_and_path_style_otherwise() {
    // "Virtual hosting of buckets" (S3 user guide): https://my-bucket.s3.us-west-2.amazonaws.com/puppy.png,
    // path-style https://s3.us-west-2.amazonaws.com/my-bucket/puppy.png.
    let aws = Endpoint::parse("https://s3.us-west-2.amazonaws.com").unwrap();
    assert!(!rules::default_path_style(aws.host()));
    assert_eq!(
        rules::target(&aws, "my-bucket", false, "puppy.png"),
        (
            "my-bucket.s3.us-west-2.amazonaws.com".into(),
            "/puppy.png".into()
        )
    );
    assert_eq!(
        rules::target(&aws, "my-bucket", true, "puppy.png"),
        (
            "s3.us-west-2.amazonaws.com".into(),
            "/my-bucket/puppy.png".into()
        )
    );
    assert_eq!(
        rules::target(&aws, "my-bucket", false, ""),
        ("my-bucket.s3.us-west-2.amazonaws.com".into(), "/".into())
    );
    let global = Endpoint::parse("https://s3.amazonaws.com/").unwrap();
    assert_eq!(
        rules::target(&global, "examplebucket", false, "test.txt").0,
        "examplebucket.s3.amazonaws.com"
    );
    // A dotted bucket cannot match the wildcard certificate: path-style.
    assert_eq!(
        rules::target(&aws, "www.example.com", false, "a").1,
        "/www.example.com/a"
    );
    let local = Endpoint::parse("http://127.0.0.1:9000").unwrap();
    assert!(rules::default_path_style(local.host()));
    assert_eq!(
        rules::target(&local, "b", true, "users/eu-west-1:x/k"),
        ("127.0.0.1:9000".into(), "/b/users/eu-west-1%3Ax/k".into())
    );
    assert_eq!(
        Endpoint::parse("https://S3.amazonaws.com:443")
            .unwrap()
            .authority,
        "s3.amazonaws.com"
    );
    assert_eq!(Endpoint::parse("http://[::1]:9000").unwrap().host(), "::1");
    for bad in [
        "https://s3.amazonaws.com/bucket",
        "https://x/?a",
        "s3.amazonaws.com",
    ] {
        assert!(Endpoint::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn names_and_part_sizes_are_checked() {
    assert!(rules::check_prefix("users/eu-west-1:7d3c0a/recordings").is_ok());
    for bad in ["a//b", "a/../b", "a b", "a/./b", "a\\b", "users/ü"] {
        assert!(rules::check_prefix(bad).is_err(), "{bad}");
    }
    assert!(rules::check_bucket("tapesync-test").is_ok());
    for bad in ["ab", "Bucket", "-a-b", "a_b", "a/b"] {
        assert!(rules::check_bucket(bad).is_err(), "{bad}");
    }
    let mib = 1024.0 * 1024.0;
    assert!(rules::check_part(5.0 * mib).is_ok() && rules::check_part(6.0 * mib).is_ok());
    assert!(rules::check_part(5.0 * mib - 1.0).is_err() && rules::check_part(6.5).is_err());
    assert_eq!(rules::part_count(20.0 * mib, 6.0 * mib), Ok(4));
    assert_eq!(rules::part_count(12.0 * mib, 6.0 * mib), Ok(2));
    assert_eq!(
        rules::part_range(4, 20.0 * mib, 6.0 * mib),
        (18.0 * mib, 20.0 * mib)
    );
    assert!(rules::part_count(1e12, 5.0 * mib).is_err());
}

#[test]
fn s3_error_codes_mean_what_the_issue_says() {
    use ErrorClass::*;
    let m = rules::meaning;
    assert_eq!(
        m(403, Some("AccessDenied")),
        (Permanent, ErrorCode::Forbidden)
    );
    assert_eq!(
        m(400, Some("ExpiredToken")),
        (NeedsNewToken, ErrorCode::Unauthorized)
    );
    assert_eq!(
        m(400, Some("InvalidToken")),
        (NeedsNewToken, ErrorCode::Unauthorized)
    );
    assert_eq!(m(503, Some("SlowDown")), (Retryable, ErrorCode::Remote));
    assert_eq!(m(503, None), (Retryable, ErrorCode::Remote));
    assert_eq!(m(404, Some("NoSuchKey")), (Permanent, ErrorCode::NotFound));
    assert_eq!(
        m(412, Some("PreconditionFailed")),
        (Permanent, ErrorCode::Conflict)
    );
    assert_eq!(
        m(400, Some("EntityTooSmall")),
        (Permanent, ErrorCode::InvalidArgument)
    );
    assert_eq!(
        m(400, Some("InvalidArgument")),
        (Permanent, ErrorCode::InvalidArgument)
    );
    assert_eq!(m(403, None), (Permanent, ErrorCode::Forbidden));
    assert_eq!(m(401, None), (NeedsNewToken, ErrorCode::Unauthorized));
    let msg = rules::message("ExpiredToken", "The provided token has expired.\n");
    assert_eq!(msg, "ExpiredToken: The provided token has expired. ");
    assert_eq!(rules::code_of(&msg), Some("ExpiredToken"));
    assert_eq!(rules::code_of("credentials() rejected"), None);
    assert_eq!(rules::code_of("Forbidden"), None);
    assert!(rules::message("X", &"y".repeat(1000)).chars().count() <= 300);
}

const NS: &str = r#" xmlns="http://s3.amazonaws.com/doc/2006-03-01/""#;

#[test]
fn errors_are_read_from_s3_documents_only() {
    let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message><RequestTime>20261201T120000Z</RequestTime><ServerTime>2026-12-01T15:00:00Z</ServerTime><MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds></Error>"#;
    let e = xml::parse_error(doc).unwrap();
    assert_eq!(
        (e.code.as_str(), e.server_time.as_deref()),
        ("RequestTimeTooSkewed", Some("2026-12-01T15:00:00Z"))
    );
    assert!(xml::parse_error("<html><body>Bad gateway</body></html>").is_none());
    assert!(xml::parse_error("").is_none());
    assert!(xml::parse_error("<Error><Code>a b</Code></Error>").is_none());
    assert!(
        xml::parse_error(r#"<!DOCTYPE x [<!ENTITY a "b">]><Error><Code>&a;</Code></Error>"#)
            .is_none()
    );
}

#[test]
fn listings_must_be_of_our_bucket_and_prefix() {
    let doc = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult{NS}><Name>b</Name><Prefix>users/u/log/</Prefix><KeyCount>4</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
<Contents><Key>users/u/log/a&amp;b</Key><Size>3</Size><ETag>&quot;x&quot;</ETag></Contents>
<Contents><Key>users/other/x</Key></Contents>
<CommonPrefixes><Prefix>users/u/log/dev1/</Prefix></CommonPrefixes>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>"#
    );
    let page = xml::parse_list(&doc, "b", "users/u/log/").unwrap();
    assert_eq!(page.names, ["a&b"]);
    assert_eq!(page.folders, ["dev1"]);
    assert_eq!(
        page.next.as_deref(),
        Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
    );
    assert!(xml::parse_list(&doc, "other", "users/u/log/").is_err());
    assert!(xml::parse_list(&doc, "b", "users/v/log/").is_err());
    let no_token = doc.replace("<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>", "");
    assert!(xml::parse_list(&no_token, "b", "users/u/log/").is_err());
    let last = no_token.replace("<IsTruncated>true", "<IsTruncated>false");
    assert_eq!(
        xml::parse_list(&last, "b", "users/u/log/").unwrap().next,
        None
    );
    for broken in [
        "",
        "<ListBucketResult>",
        "<ListBucketResult></Other>",
        "<Error><Code>AccessDenied</Code></Error>",
    ] {
        assert!(
            xml::parse_list(broken, "b", "users/u/log/").is_err(),
            "{broken}"
        );
    }
}

#[test]
fn multipart_answers_are_checked_against_our_upload() {
    // AWS's CreateMultipartUpload example answer.
    let init = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult{NS}>
   <Bucket>example-bucket</Bucket>
   <Key>example-object</Key>
   <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
</InitiateMultipartUploadResult>"#
    );
    assert_eq!(
        xml::parse_initiate(&init, "example-bucket", "example-object").unwrap(),
        "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA"
    );
    assert!(xml::parse_initiate(&init, "example-bucket", "other").is_err());
    let parts = format!(
        r#"<ListPartsResult{NS}><Bucket>b</Bucket><Key>k</Key><UploadId>id</UploadId><IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker>
<Part><PartNumber>1</PartNumber><ETag>"7778aef83f66abc1fa1e8477f296d394"</ETag><Size>10485760</Size></Part>
<Part><PartNumber>2</PartNumber><ETag>&quot;aaaa&quot;</ETag><Size>5</Size></Part></ListPartsResult>"#
    );
    let (got, next) = xml::parse_parts(&parts, "b", "k", "id").unwrap();
    assert_eq!(next, Some(2));
    assert_eq!(
        got[0],
        xml::Part {
            number: 1,
            etag: "\"7778aef83f66abc1fa1e8477f296d394\"".into(),
            size: 10_485_760
        }
    );
    assert_eq!(got[1].etag, "\"aaaa\"");
    assert!(xml::parse_parts(&parts, "b", "k", "other").is_err());
    for bad in [
        "<PartNumber>0</PartNumber>",
        "<PartNumber>10001</PartNumber>",
        "<PartNumber>-1</PartNumber>",
    ] {
        assert!(
            xml::parse_parts(
                &parts.replace("<PartNumber>1</PartNumber>", bad),
                "b",
                "k",
                "id"
            )
            .is_err(),
            "{bad}"
        );
    }
    assert!(xml::parse_parts(
        &parts.replace("<Size>5</Size>", "<Size>5.0</Size>"),
        "b",
        "k",
        "id"
    )
    .is_err());
    let done = format!(
        r#"<CompleteMultipartUploadResult{NS}><Location>x</Location><Bucket>b</Bucket><Key>k</Key><ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag></CompleteMultipartUploadResult>"#
    );
    assert_eq!(xml::parse_complete(&done, "b", "k"), Ok(()));
    assert!(matches!(
        xml::parse_complete(&done, "b", "j"),
        Err(xml::CompleteError::Invalid(_))
    ));
    // S3 may answer 200 with an error document.
    let failed = "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>";
    assert!(
        matches!(xml::parse_complete(failed, "b", "k"), Err(xml::CompleteError::S3(e)) if e.code == "InternalError")
    );
    assert_eq!(
        xml::complete_body(&["\"a\"".into(), "\"b\"".into()]),
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part></CompleteMultipartUpload>"
    );
}

#[test]
fn the_parser_refuses_what_s3_never_sends() {
    assert_eq!(xml::unescape("&lt;&#65;&#x42;&apos;").unwrap(), "<AB'");
    for bad in ["&bogus;", "a & b", "&#xD800;"] {
        assert!(xml::unescape(bad).is_err(), "{bad}");
    }
    let deep = format!("{}{}", "<a>".repeat(20), "</a>".repeat(20));
    assert!(xml::parse(&deep).is_err());
    assert!(xml::parse("<a></a><b></b>").is_err());
    assert!(xml::parse("<a><b></a></b>").is_err());
    assert!(
        xml::parse("<a x='1>2'><b/><c>t<![CDATA[<raw>]]></c></a>")
            .unwrap()
            .text_of("c")
            == Some("t<raw>")
    );
    assert!(xml::parse(&"x".repeat(5 << 20)).is_err());
}
