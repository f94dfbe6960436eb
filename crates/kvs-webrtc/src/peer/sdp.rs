//! What we add to the SDP we send, for the peers that read it.

/// Whether an offer has an audio section the other side would receive on: a port, and not
/// `sendonly` or `inactive` (from the offerer's side).
pub(crate) fn offers_audio(sdp: &str) -> bool {
    has_audio_flowing(sdp, "a=sendonly")
}

/// Whether an answer sends audio to the offerer: an audio section with a port that is not
/// `recvonly` or `inactive` (from the answerer's side).
pub(crate) fn answers_with_audio(sdp: &str) -> bool {
    has_audio_flowing(sdp, "a=recvonly")
}

/// An audio section with a port whose direction is neither `against` nor `inactive`.
fn has_audio_flowing(sdp: &str, against: &str) -> bool {
    media_sections(sdp, "audio").any(|section| {
        let blocked = section
            .lines()
            .any(|l| [against, "a=inactive"].contains(&l.trim_end()));
        let port = section.split_whitespace().nth(1);
        !blocked && port.is_some_and(|p| p != "0")
    })
}

/// The media sections of kind `kind`, each from its `m=` line's kind on.
fn media_sections<'a>(sdp: &'a str, kind: &'a str) -> impl Iterator<Item = &'a str> {
    sdp.split("\nm=")
        .skip(1)
        .filter(move |s| s.split_whitespace().next() == Some(kind))
}

/// `sdp` saying that candidates are trickled (`a=ice-options:trickle` at session level, RFC
/// 8840), as browsers' offers and answers do. AWS's C SDK otherwise waits until its candidate
/// gathering has finished (10 s by default) before it answers an offer.
pub(crate) fn with_trickle(sdp: &str) -> String {
    let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(sdp.len() + 24);
    let mut in_session = true;
    let mut done = false;
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("m=") {
            in_session = false;
        }
        let bare = line.trim_end();
        if !done
            && in_session
            && let Some(options) = bare.strip_prefix("a=ice-options:")
        {
            done = true;
            if options.split_whitespace().any(|o| o == "trickle") {
                out.push_str(line);
            } else {
                out.push_str(bare);
                out.push_str(" trickle");
                out.push_str(eol);
            }
            continue;
        }
        if !done && !in_session {
            // No session-level ice-options: add one before the first media section.
            out.push_str("a=ice-options:trickle");
            out.push_str(eol);
            done = true;
        }
        out.push_str(line);
    }
    if !done {
        out.push_str("a=ice-options:trickle");
        out.push_str(eol);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{answers_with_audio, offers_audio, with_trickle};

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\n";

    #[test]
    fn audio_sections_are_found_with_their_direction() {
        let offer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=recvonly\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\n";
        assert!(offers_audio(offer));
        assert!(!answers_with_audio(offer));
        let answer = offer.replace("a=recvonly\r\nm=audio", "a=sendonly\r\nm=audio");
        let answer = answer.replace("111\r\na=recvonly", "111\r\na=sendonly");
        assert!(answers_with_audio(&answer));
        assert!(!offers_audio(&answer));
        assert!(!offers_audio("v=0\r\nm=audio 0 UDP/TLS/RTP/SAVPF 111\r\n"));
        assert!(!offers_audio("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\n"));
    }

    #[test]
    fn a_session_level_ice_options_line_goes_before_the_first_media_section() {
        let sdp = with_trickle(OFFER);
        assert_eq!(
            sdp,
            "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\na=ice-options:trickle\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\n"
        );
        assert_eq!(with_trickle(&sdp), sdp, "said once");
    }

    #[test]
    fn other_ice_options_gain_trickle() {
        let sdp = OFFER.replace("t=0 0\r\n", "t=0 0\r\na=ice-options:ice2\r\n");
        let out = with_trickle(&sdp);
        assert!(out.contains("a=ice-options:ice2 trickle\r\n"), "{out}");
        assert_eq!(out.matches("ice-options").count(), 1);
        // a media-level line does not count as the session's
        let media = OFFER.replace("a=mid:0\r\n", "a=mid:0\r\na=ice-options:trickle\r\n");
        assert_eq!(with_trickle(&media).matches("ice-options").count(), 2);
    }
}
