use std::fmt;

/// A string that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: expected one of {expected}")]
pub struct ParseEnumError {
    what: &'static str,
    value: String,
    expected: String,
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in the service's order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value as the wire protocol spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseEnumError;
            /// Accepts the wire spelling in any case, with '-' for '_'.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let norm = s.trim().to_ascii_uppercase().replace('-', "_");
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == norm)
                    .ok_or_else(|| ParseEnumError {
                        what: $what,
                        value: s.to_owned(),
                        expected: Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    })
            }
        }
    };
}

wire_enum!(
    /// The data-plane API a `GetDataEndpoint` call asks an endpoint for.
    ApiName, "APIName" {
        /// PutMedia.
        PutMedia = "PUT_MEDIA",
        /// GetMedia.
        GetMedia = "GET_MEDIA",
        /// ListFragments.
        ListFragments = "LIST_FRAGMENTS",
        /// GetMediaForFragmentList.
        GetMediaForFragmentList = "GET_MEDIA_FOR_FRAGMENT_LIST",
        /// GetHLSStreamingSessionURL.
        GetHlsStreamingSessionUrl = "GET_HLS_STREAMING_SESSION_URL",
        /// GetDASHStreamingSessionURL.
        GetDashStreamingSessionUrl = "GET_DASH_STREAMING_SESSION_URL",
        /// GetClip.
        GetClip = "GET_CLIP",
        /// GetImages.
        GetImages = "GET_IMAGES",
    }
);

wire_enum!(
    /// The role a signaling client takes on a single-master channel.
    ChannelRole, "Role" {
        /// The one master (usually the camera).
        Master = "MASTER",
        /// A viewer (up to ten per channel).
        Viewer = "VIEWER",
    }
);

wire_enum!(
    /// A signaling endpoint protocol.
    ChannelProtocol, "Protocol" {
        /// The signaling WebSocket.
        Wss = "WSS",
        /// The HTTPS API (GetIceServerConfig, SendAlexaOfferToMaster).
        Https = "HTTPS",
        /// WebRTC ingestion.
        Webrtc = "WEBRTC",
    }
);

wire_enum!(
    /// A signaling channel's type.
    ChannelType, "ChannelType" {
        /// One master, many viewers.
        SingleMaster = "SINGLE_MASTER",
        /// Full mesh (reserved by the service).
        FullMesh = "FULL_MESH",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loosely_prints_exactly() {
        assert_eq!("get-clip".parse::<ApiName>().unwrap(), ApiName::GetClip);
        assert_eq!(
            "PUT_MEDIA".parse::<ApiName>().unwrap().as_str(),
            "PUT_MEDIA"
        );
        assert_eq!(
            "master".parse::<ChannelRole>().unwrap(),
            ChannelRole::Master
        );
        let err = "GET".parse::<ApiName>().unwrap_err().to_string();
        assert!(err.contains("GET_CLIP"), "{err}");
    }
}
