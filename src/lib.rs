//! mxkv: the Apache MXNet 1.x KVStore C API as a small, fast, thread-safe library.
//!
//! The crate has two layers. The body — [`ndarray`], [`kvstore`], [`optimizer`] and
//! [`error`] — is safe Rust with no knowledge of C, and is the crate's Rust API. The skin,
//! `ffi`, is the exported `MX*` C API: it checks and converts raw arguments, calls the body, and turns the result
//! into MXNet's 0/-1 convention; it is not part of the Rust API.
//!
//! ```
//! use mxkv::kvstore::{KVStore, Keys};
//! use mxkv::ndarray::{Context, NDArray};
//!
//! let kv = KVStore::create("local")?;
//! let zeros = NDArray::from_slice(&[3], &[0.0f32; 3], Context::cpu(0))?;
//! kv.init(Keys::Int(&[7]), &[zeros])?;
//! // Two devices push a gradient each for key 7: the store keeps their sum.
//! let grads = [
//!     NDArray::from_slice(&[3], &[1.0f32, 2.0, 3.0], Context::cpu(0))?,
//!     NDArray::from_slice(&[3], &[0.5f32, 0.5, 0.5], Context::cpu(1))?,
//! ];
//! kv.push(Keys::Int(&[7, 7]), &grads)?;
//! let out = NDArray::new(grads[0].shape().clone(), mxkv::ndarray::DType::F64, Context::cpu(0))?;
//! kv.pull(Keys::Int(&[7]), &[out.clone()], true)?;
//! assert_eq!(out.to_vec::<f64>()?, [1.5, 2.5, 3.5]);
//! # Ok::<(), mxkv::Error>(())
//! ```

#[cfg(feature = "dist")]
pub mod dist;
pub mod error;
#[doc(hidden)]
pub mod ffi;
pub mod kvstore;
pub mod ndarray;
pub mod optimizer;
mod pool;

pub use error::{Error, Result};
