//! Cross-origin requests, as the AWS endpoints answer them: a page served from another origin
//! (a user's own viewer page, AWS's test page) calls the APIs with the AWS SDK for JavaScript,
//! which the browser allows only after a preflight. Requests are still authenticated by their
//! SigV4 signature; CORS only lets the browser send them.

use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

/// Response headers a page's script may read (request ids, errors, the clock the SDK corrects
/// its skew from).
const EXPOSED: &str = "x-amzn-RequestId, x-amzn-ErrorType, x-amzn-ErrorMessage, x-amz-request-id, \
                       Date, Content-Type, Content-Length";

/// The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`), if this is
/// one.
pub(crate) fn preflight(parts: &Parts) -> Option<Response> {
    if parts.method != Method::OPTIONS
        || !parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return None;
    }
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    allow_origin(parts.headers.get(header::ORIGIN).cloned(), h);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    if let Some(asked) = parts.headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    Some(r)
}

/// Adds the headers that let a cross-origin page read `response` (when the request had an
/// `Origin`).
pub(crate) fn allow(origin: Option<HeaderValue>, response: &mut HeaderMap) {
    if let Some(origin) = origin {
        allow_origin(Some(origin), response);
        response.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
    }
}

fn allow_origin(origin: Option<HeaderValue>, response: &mut HeaderMap) {
    // Any origin: nothing is served on the strength of cookies, every API call is signed.
    let origin = origin.unwrap_or(HeaderValue::from_static("*"));
    response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    response.insert(header::VARY, HeaderValue::from_static("Origin"));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parts(method: Method, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder()
            .method(method)
            .uri("/describeSignalingChannel");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_preflight_is_answered_with_what_it_asked_for() {
        let p = parts(
            Method::OPTIONS,
            &[
                ("origin", "https://127.0.0.1:9000"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization,x-amz-date"),
            ],
        );
        let r = preflight(&p).unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], "https://127.0.0.1:9000");
        assert_eq!(
            h["access-control-allow-headers"],
            "authorization,x-amz-date"
        );
        assert!(
            h["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("POST")
        );
    }

    #[test]
    fn other_requests_are_not_preflights() {
        assert!(preflight(&parts(Method::OPTIONS, &[])).is_none());
        assert!(preflight(&parts(Method::POST, &[("origin", "https://a")])).is_none());
        let mut out = HeaderMap::new();
        allow(None, &mut out);
        assert!(out.is_empty(), "no Origin, no CORS headers");
    }
}
