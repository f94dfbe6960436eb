//! What we add to the SDP we send, for the peers that read it.

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
    use super::with_trickle;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\n";

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
