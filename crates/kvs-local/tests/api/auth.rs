use std::time::{Duration, SystemTime};

use aws_sdk_kinesisvideo::error::ProvideErrorMetadata;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use crate::{client_for, start};

/// Signs a JSON POST of `body` to `url` as aws-sigv4 does; returns the headers to send.
pub(crate) fn signed_headers(
    url: &str,
    host: &str,
    body: &[u8],
    secret: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    let identity = aws_credential_types::Credentials::new(
        kvs_local::Credentials::DEFAULT_ACCESS_KEY_ID,
        secret,
        None,
        None,
        "test",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("kinesisvideo")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [("host", host), ("content-type", "application/json")];
    let req = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(req, &params).unwrap().into_parts();
    let mut out: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    out.extend(
        instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    out
}

async fn post(
    url: &str,
    headers: &[(String, String)],
    body: &'static [u8],
) -> (u16, String, String) {
    let client = reqwest::Client::new();
    let mut req = client.post(url).body(body);
    for (k, v) in headers {
        if k != "host" {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let code = resp
        .headers()
        .get("x-amzn-ErrorType")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, code, resp.text().await.unwrap())
}

#[tokio::test]
async fn sdk_with_wrong_secret_gets_403() {
    let l = start().await;
    let wrong = client_for(l.server(), "not-the-secret");
    let err = wrong.list_streams().send().await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    // and the right one works
    l.client.list_streams().send().await.unwrap();
}

#[tokio::test]
async fn tampered_body_unknown_key_skew_and_missing_auth_get_403() {
    let l = start().await;
    let url = format!("{}/listStreams", l.server().url());
    let host = l.server().addr().to_string();
    let secret = kvs_local::Credentials::DEFAULT_SECRET_ACCESS_KEY;

    let good = signed_headers(&url, &host, b"{}", secret, SystemTime::now());
    let (status, _, body) = post(&url, &good, b"{}").await;
    assert_eq!(status, 200, "{body}");

    let (status, code, _) = post(&url, &good, b"{\"MaxResults\":1}").await;
    assert_eq!((status, code.as_str()), (403, "InvalidSignatureException"));

    let old = signed_headers(
        &url,
        &host,
        b"{}",
        secret,
        SystemTime::now() - Duration::from_secs(20 * 60),
    );
    let (status, code, body) = post(&url, &old, b"{}").await;
    assert_eq!((status, code.as_str()), (403, "InvalidSignatureException"));
    assert!(body.contains("Signature expired"), "{body}");

    let mut unknown = good.clone();
    for (k, v) in &mut unknown {
        if k == "authorization" {
            *v = v.replace(
                kvs_local::Credentials::DEFAULT_ACCESS_KEY_ID,
                "AKIDSOMEONEELSE",
            );
        }
    }
    let (status, code, _) = post(&url, &unknown, b"{}").await;
    assert_eq!(
        (status, code.as_str()),
        (403, "UnrecognizedClientException")
    );

    let (status, code, _) = post(&url, &[], b"{}").await;
    assert_eq!(
        (status, code.as_str()),
        (403, "MissingAuthenticationTokenException")
    );
}

#[tokio::test]
async fn host_signed_without_port_is_accepted() {
    // The official C producer signs `host` without the port.
    let l = start().await;
    let url = format!("{}/listStreams", l.server().url());
    let secret = kvs_local::Credentials::DEFAULT_SECRET_ACCESS_KEY;
    let headers = signed_headers(&url, "127.0.0.1", b"{}", secret, SystemTime::now());
    let (status, _, body) = post(&url, &headers, b"{}").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn endpoints_for_a_host_header_without_port_keep_the_servers_port() {
    // AWS's C producer and WebRTC SDK send (and sign) `Host: 127.0.0.1` for
    // http://127.0.0.1:PORT: the endpoints they get back must still name PORT.
    let l = start().await;
    l.client
        .create_stream()
        .stream_name("c-sdk")
        .send()
        .await
        .unwrap();
    let url = format!("{}/getDataEndpoint", l.server().url());
    let body: &'static [u8] = br#"{"StreamName":"c-sdk","APIName":"PUT_MEDIA"}"#;
    let secret = kvs_local::Credentials::DEFAULT_SECRET_ACCESS_KEY;
    let headers = signed_headers(&url, "127.0.0.1", body, secret, SystemTime::now());
    let mut req = reqwest::Client::new().post(&url).body(body);
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["DataEndpoint"], l.server().url(), "{json}");
}
