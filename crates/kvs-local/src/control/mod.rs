//! The Kinesis Video Streams control plane (restJson1: `POST /createStream`, ...), one module
//! per resource family: streams, signaling channels, tags, endpoints.

mod channels;
mod common;
mod endpoints;
mod streams;
mod tags;

use axum::Json;
use axum::response::{IntoResponse, Response};

use crate::App;
use crate::error::ApiError;
use crate::origin::Origin;
use crate::protocol::rest_json_body;

pub(crate) use channels::ChannelSelector;

/// The control-plane operations, by the path the SDKs post to.
pub(crate) fn operation_for_path(path: &str) -> Option<&'static str> {
    Some(match path {
        "/createStream" => "CreateStream",
        "/describeStream" => "DescribeStream",
        "/listStreams" => "ListStreams",
        "/deleteStream" => "DeleteStream",
        "/updateDataRetention" => "UpdateDataRetention",
        "/tagStream" => "TagStream",
        "/untagStream" => "UntagStream",
        "/listTagsForStream" => "ListTagsForStream",
        "/getDataEndpoint" => "GetDataEndpoint",
        "/createSignalingChannel" => "CreateSignalingChannel",
        "/describeSignalingChannel" => "DescribeSignalingChannel",
        "/listSignalingChannels" => "ListSignalingChannels",
        "/deleteSignalingChannel" => "DeleteSignalingChannel",
        "/getSignalingChannelEndpoint" => "GetSignalingChannelEndpoint",
        "/TagResource" => "TagResource",
        "/UntagResource" => "UntagResource",
        "/ListTagsForResource" => "ListTagsForResource",
        _ => return None,
    })
}

/// Runs one control-plane operation on a verified request body.
pub(crate) async fn handle(
    app: &App,
    origin: &Origin,
    operation: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let out = match operation {
        "CreateStream" => streams::create_stream(app, rest_json_body(body)?).await?,
        "DescribeStream" => streams::describe_stream(app, rest_json_body(body)?).await?,
        "ListStreams" => streams::list_streams(app, rest_json_body(body)?).await?,
        "DeleteStream" => streams::delete_stream(app, rest_json_body(body)?).await?,
        "UpdateDataRetention" => streams::update_data_retention(app, rest_json_body(body)?).await?,
        "TagStream" => tags::tag_stream(app, rest_json_body(body)?).await?,
        "UntagStream" => tags::untag_stream(app, rest_json_body(body)?).await?,
        "ListTagsForStream" => tags::list_tags_for_stream(app, rest_json_body(body)?).await?,
        "GetDataEndpoint" => {
            endpoints::get_data_endpoint(app, origin, rest_json_body(body)?).await?
        }
        "CreateSignalingChannel" => channels::create_channel(app, rest_json_body(body)?).await?,
        "DescribeSignalingChannel" => {
            channels::describe_channel(app, rest_json_body(body)?).await?
        }
        "ListSignalingChannels" => channels::list_channels(app, rest_json_body(body)?).await?,
        "DeleteSignalingChannel" => channels::delete_channel(app, rest_json_body(body)?).await?,
        "GetSignalingChannelEndpoint" => {
            endpoints::get_signaling_endpoint(app, origin, rest_json_body(body)?).await?
        }
        "TagResource" => tags::tag_resource(app, rest_json_body(body)?).await?,
        "UntagResource" => tags::untag_resource(app, rest_json_body(body)?).await?,
        "ListTagsForResource" => tags::list_tags_for_resource(app, rest_json_body(body)?).await?,
        other => {
            return Err(ApiError::invalid_argument(format!(
                "unknown operation {other}"
            )));
        }
    };
    Ok(Json(out).into_response())
}
