//! End-to-end tests of the built `kvs` and `kvs-local` binaries, run as separate processes.

#![allow(clippy::unwrap_used)]

mod console;
mod demo;
mod durability;
mod faces;
mod lossy;
mod put;
mod standalone;
mod tls;
mod webrtc;
