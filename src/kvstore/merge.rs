//! The merged value of one key in one push: the sum of the arrays pushed for it, formed
//! only where it is needed — straight into the stored value when it is assigned, in a
//! buffer when an updater or an engine needs it as an array.

use super::compression::Compressor;
use crate::error::Result;
use crate::ndarray::{NDArray, SumOrder};

/// One key's merged value (MXNet's `merged`, reference §3.4).
pub enum Merged<'a> {
    /// Not summed yet: the arrays pushed for the key, in call order, and the order in
    /// which to add them.
    Sources {
        sources: &'a [&'a NDArray],
        order: SumOrder,
    },
    /// Not summed yet, and to be summed as 2-bit compression sends it: each array
    /// quantised with its residual, the packed values added in slot order.
    Compressed {
        key: i32,
        sources: &'a [&'a NDArray],
        compressor: &'a Compressor,
    },
    /// Summed.
    Array(NDArray),
}

impl Merged<'_> {
    /// The sum as an array shaped and typed like `stored`: the one pushed array itself
    /// when it has `stored`'s dtype (no copy, as in MXNet), else a sum in `buffer`'s
    /// memory when it is there and large enough (it is taken), else in new memory.
    pub fn into_array(self, stored: &NDArray, buffer: &mut Option<NDArray>) -> Result<NDArray> {
        match self {
            Merged::Array(array) => Ok(array),
            Merged::Sources { sources, .. } if buffer_bytes(stored, sources, false) == 0 => {
                Ok(sources[0].clone())
            }
            merged => {
                let sum = match buffer.take().and_then(|b| b.recycle_as(stored)) {
                    Some(buffer) => buffer,
                    None => stored.like()?,
                };
                merged.assign_to(&sum)?;
                Ok(sum)
            }
        }
    }

    /// The sum as an array that shares no memory with the caller's arrays, for a push
    /// applied after the call returns.
    pub fn into_owned_array(self, stored: &NDArray) -> Result<NDArray> {
        match self {
            Merged::Array(array) => Ok(array),
            merged => {
                let sum = stored.like()?;
                merged.assign_to(&sum)?;
                Ok(sum)
            }
        }
    }

    /// Makes the sum the stored value (MXNet's assign without an updater).
    #[inline]
    pub fn assign_to(self, stored: &NDArray) -> Result<()> {
        match self {
            Merged::Sources { sources, order } => stored.assign_sum_in(order, sources),
            Merged::Compressed {
                key,
                sources,
                compressor,
            } => compressor.reduce_into(key, sources, stored),
            Merged::Array(array) => stored.assign_sum(&[&array]),
        }
    }
}

/// Bytes of the buffer a sum of `sources` for `stored` needs as an array: none when the
/// one pushed array can be handed over as it is (never when it is to be compressed), or
/// when a row_sparse array is involved (its merged value is made in memory of its own size,
/// `sparse::merge`).
pub fn buffer_bytes(stored: &NDArray, sources: &[&NDArray], compressed: bool) -> usize {
    match sources {
        _ if super::sparse::involved(stored, sources) => 0,
        [only] if only.dtype() == stored.dtype() && !compressed => 0,
        _ => stored.nbytes(),
    }
}
