//! `GetIceServerConfig` (`POST /v1/get-ice-server-config` on the channel's HTTPS endpoint).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;
use crate::control::ChannelSelector;
use crate::error::ApiError;
use crate::protocol::rest_json_body;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    #[serde(rename = "ChannelARN")]
    channel_arn: Option<String>,
    client_id: Option<String>,
    service: Option<String>,
}

pub(crate) async fn get_ice_server_config(app: &App, body: &[u8]) -> Result<Value, ApiError> {
    let input: Input = rest_json_body(body)?;
    let arn = input
        .channel_arn
        .ok_or_else(|| ApiError::invalid_argument("ChannelARN is required"))?;
    if let Some(service) = &input.service
        && service != "TURN"
    {
        return Err(ApiError::invalid_argument(format!(
            "Service {service:?} is not valid; use TURN"
        )));
    }
    let client = match input.client_id {
        Some(id) if super::valid_client_id(&id) => id,
        Some(id) => {
            return Err(ApiError::invalid_argument(format!(
                "ClientId {id:?} is not valid"
            )));
        }
        None => "master".to_owned(),
    };
    ChannelSelector::by_arn(arn).load(app).await?;
    let turn = &app.turn;
    let creds = turn.credentials(&client);
    let addr = turn.addr();
    Ok(json!({
        "IceServerList": [{
            "Uris": [format!("turn:{addr}?transport=udp")],
            "Username": creds.username,
            "Password": creds.password,
            "Ttl": turn.credential_ttl().as_secs(),
        }]
    }))
}
