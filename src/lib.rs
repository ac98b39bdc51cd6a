//! mxkv: the Apache MXNet 1.x KVStore C API as a small, fast, thread-safe library.
//!
//! The crate has two layers. The body — [`ndarray`], [`kvstore`] and [`error`] — is safe Rust
//! with no knowledge of C. The skin, [`ffi`], is the exported `MX*` C API: it checks and converts
//! raw arguments, calls the body, and turns the result into MXNet's 0/-1 convention.

pub mod error;
pub mod ffi;
pub mod kvstore;
pub mod ndarray;
pub mod optimizer;
mod pool;

pub use error::{Error, Result};
