//! WebRTC peers: a master that serves many viewers, and a viewer.
