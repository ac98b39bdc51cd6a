//! Dense n-dimensional arrays: views of shared, locked chunks of memory.
//!
//! An [`NDArray`] is a cheap value: cloning it makes another view of the same memory, as
//! an MXNet handle copy does. Slice, At and Reshape give views that share the chunk; every
//! read and write goes through the chunk's lock, so concurrent calls never race inside
//! mxkv (memory written by C through `MXNDArrayGetData` is the caller's to order).
//!
//! Files: [`Shape`] (`shape.rs`), [`Context`] and [`Device`] (`context.rs`), [`Storage`]
//! (`storage.rs`), [`DType`] and [`Element`] (`dtype.rs`), the memory and its lock order
//! (`chunk.rs`), the array value (`array.rs`), its views (`view.rs`), copies and sums
//! (`assign.rs`), typed access (`typed.rs`), the `.params` format ([`io`]), the data
//! kernels ([`kernels`]), and sparse arrays ([`sparse`]) with their row kernels ([`rows`]).

mod array;
mod assign;
mod chunk;
mod context;
pub mod dtype;
pub mod io;
pub mod kernels;
pub mod rows;
mod shape;
pub mod sparse;
mod storage;
mod typed;
mod view;

pub use array::{NDArray, Reserved, WeakArray};
pub(crate) use array::{PREFETCH_MOST, WRITE_AHEAD};
#[cfg(test)]
pub(crate) use chunk::{ALLOCATIONS_LEFT, FAIL_ALLOCATIONS};
pub use context::{Context, Device};
pub use dtype::{Bool8, DType, Element};
pub use kernels::SumOrder;
pub use shape::Shape;
pub use storage::Storage;
