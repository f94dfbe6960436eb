#![doc = include_str!("../README.md")]

pub mod peer;
pub mod session;
pub mod signaling;
