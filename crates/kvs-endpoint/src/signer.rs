//! SigV4 signing for the requests the AWS SDKs do not make for us: PutMedia's streamed body and
//! the presigned signaling WebSocket URL.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;

/// SHA-256 of the empty string: what streaming clients sign as the payload hash.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What the signature covers of the body.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// The whole body, known up front.
    Bytes(&'a [u8]),
    /// A body streamed after signing (PutMedia): signed as the empty string, as the official
    /// producers do.
    Streaming,
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// No credentials are configured.
    #[error(
        "no AWS credentials configured (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or use --profile)"
    )]
    NoCredentials,
    /// The credentials provider failed.
    #[error("cannot load AWS credentials: {0}")]
    Credentials(String),
    /// The request could not be signed (bad URL or header).
    #[error("cannot sign the request: {0}")]
    Signing(String),
}

/// Signs hand-made requests with the configuration's credentials and region.
#[derive(Clone, Debug)]
pub struct RequestSigner {
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    service: &'static str,
}

impl RequestSigner {
    /// A signer for `service` (e.g. `kinesisvideo`) in `region`.
    pub fn new(
        credentials: Option<SharedCredentialsProvider>,
        region: String,
        service: &'static str,
    ) -> Self {
        Self {
            credentials,
            region,
            service,
        }
    }

    async fn identity(
        &self,
    ) -> Result<aws_smithy_runtime_api::client::identity::Identity, SignError> {
        let provider = self.credentials.as_ref().ok_or(SignError::NoCredentials)?;
        let creds = provider.provide_credentials().await.map_err(|e| {
            SignError::Credentials(aws_sdk_kinesisvideo::error::DisplayErrorContext(e).to_string())
        })?;
        Ok(creds.into())
    }

    /// Adds SigV4 headers (`authorization`, `x-amz-date`, `x-amz-security-token`) to `request`.
    /// Every header already on the request is signed, `host` included.
    pub async fn sign<B>(
        &self,
        request: &mut http::Request<B>,
        payload: Payload<'_>,
    ) -> Result<(), SignError> {
        self.sign_at(request, payload, SystemTime::now()).await
    }

    async fn sign_at<B>(
        &self,
        request: &mut http::Request<B>,
        payload: Payload<'_>,
        time: SystemTime,
    ) -> Result<(), SignError> {
        let identity = self.identity().await?;
        if !request.headers().contains_key(http::header::HOST)
            && let Some(authority) = request.uri().authority()
            && let Ok(v) = http::HeaderValue::from_str(authority.as_str())
        {
            request.headers_mut().insert(http::header::HOST, v);
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SignError::Signing(e.to_string()))?
            .into();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
            .collect();
        let body = match payload {
            Payload::Bytes(b) => SignableBody::Bytes(b),
            Payload::Streaming => SignableBody::Precomputed(EMPTY_SHA256.to_owned()),
        };
        let uri = request.uri().to_string();
        let signable =
            SignableRequest::new(request.method().as_str(), uri, headers.into_iter(), body)
                .map_err(|e| SignError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| SignError::Signing(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }

    /// A presigned GET URL valid for `expires` (the signaling WebSocket uses 299 s), with only
    /// `host` signed and the session token in the canonical request, as the KVS SDKs do.
    pub async fn presign_url(&self, url: &str, expires: Duration) -> Result<String, SignError> {
        self.presign_url_at(url, expires, SystemTime::now()).await
    }

    async fn presign_url_at(
        &self,
        url: &str,
        expires: Duration,
        time: SystemTime,
    ) -> Result<String, SignError> {
        let identity = self.identity().await?;
        let uri: http::Uri = url
            .parse()
            .map_err(|e| SignError::Signing(format!("bad URL {url:?}: {e}")))?;
        let host = uri
            .authority()
            .ok_or_else(|| SignError::Signing(format!("URL {url:?} has no host")))?
            .to_string();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| SignError::Signing(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            "GET",
            url,
            std::iter::once(("host", host.as_str())),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| SignError::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| SignError::Signing(e.to_string()))?
            .into_parts();
        let mut request = http::Request::get(uri)
            .body(())
            .map_err(|e| SignError::Signing(e.to_string()))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.uri().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> RequestSigner {
        let creds = aws_credential_types::Credentials::new(
            "AKIDTEST",
            "secret",
            Some("tok".into()),
            None,
            "t",
        );
        RequestSigner::new(
            Some(SharedCredentialsProvider::new(creds)),
            "us-west-2".into(),
            "kinesisvideo",
        )
    }

    #[tokio::test]
    async fn presigned_url_has_the_sigv4_query() {
        let url = signer()
            .presign_url(
                "wss://example.kinesisvideo.us-west-2.amazonaws.com/?X-Amz-ChannelARN=arn%3Aaws%3Akinesisvideo%3Aus-west-2%3A123456789012%3Achannel%2Fc%2F1",
                Duration::from_secs(299),
            )
            .await
            .unwrap();
        for part in [
            "X-Amz-ChannelARN=",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDTEST%2F",
            "%2Fus-west-2%2Fkinesisvideo%2Faws4_request",
            "X-Amz-Expires=299",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Security-Token=tok",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(part), "{part} missing from {url}");
        }
    }

    #[tokio::test]
    async fn streaming_payload_signs_the_empty_hash_and_no_credentials_is_an_error() {
        let mut req = http::Request::post("http://127.0.0.1:4567/putMedia")
            .header("x-amzn-stream-name", "cam")
            .body(())
            .unwrap();
        signer().sign(&mut req, Payload::Streaming).await.unwrap();
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token;x-amzn-stream-name"),
            "{auth}"
        );
        assert_eq!(req.headers()["host"], "127.0.0.1:4567");

        let none = RequestSigner::new(None, "us-east-1".into(), "kinesisvideo");
        let mut req = http::Request::get("http://h/").body(()).unwrap();
        assert!(matches!(
            none.sign(&mut req, Payload::Bytes(b"")).await,
            Err(SignError::NoCredentials)
        ));
    }
}
