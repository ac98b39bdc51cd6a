//! The merged value of one key in one push: the sum of the arrays pushed for it, formed
//! only where it is needed — straight into the stored value when it is assigned, in a
//! buffer when an updater or an engine needs it as an array.

use super::compression::Compressor;
use crate::error::Result;
use crate::ndarray::{DType, NDArray, Reserved, Shape, SumOrder};

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
    /// when it has `stored`'s dtype (no copy, as in MXNet), else a sum in memory from
    /// `buffer`.
    pub fn into_array(self, stored: &NDArray, buffer: &mut impl SumMemory) -> Result<NDArray> {
        match self {
            Merged::Array(array) => Ok(array),
            Merged::Sources { sources, .. } if buffer_bytes(stored, sources, false) == 0 => {
                Ok(sources[0].clone())
            }
            merged => {
                let sum = buffer.take_like(stored)?;
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

/// Memory for a sum of `nbytes`, allocated, untouched until it is made an array.
pub fn reserve_buffer(nbytes: usize) -> Result<Reserved> {
    NDArray::reserve(Shape(vec![nbytes as i64]), DType::U8, super::STORE_CONTEXT)
}

/// Where [`Merged::into_array`] finds memory for a sum.
pub trait SumMemory {
    /// Memory shaped like `stored` for a sum to be written into.
    fn take_like(&mut self, stored: &NDArray) -> Result<NDArray>;

    /// Takes back a sum handed to an updater, to be used again when the updater let go
    /// of it.
    fn give_back(&mut self, recv: NDArray);
}

/// A buffer that no one else uses, taken when it is large enough; else new memory.
impl SumMemory for Option<NDArray> {
    fn take_like(&mut self, stored: &NDArray) -> Result<NDArray> {
        match self.take().and_then(|b| b.recycle_as(stored)) {
            Some(buffer) => Ok(buffer),
            None => stored.like(),
        }
    }

    fn give_back(&mut self, recv: NDArray) {
        if self.is_none() && recv.is_sole_view() {
            *self = Some(recv);
        }
    }
}

/// The memory a push of several keys sums into for an updater: the store's reusable
/// buffer, and one block set aside before the push changes any key, with a part for every
/// key after the first that needs a buffer. An updater that keeps its `recv` keeps the
/// reusable buffer; a later key must not then fail for want of memory after earlier keys
/// were updated (spec §4.2). The block stays untouched (no page of it is used) unless a
/// key needs its part.
pub struct SumBuffers {
    /// The reusable buffer, while no updater holds it.
    pub reusable: Option<NDArray>,
    /// The block, reserved; made an array when a key first needs a part of it.
    reserved: Option<Reserved>,
    block: Option<NDArray>,
    /// Where in the block the next part starts.
    next: usize,
}

impl SumBuffers {
    /// The reusable buffer, and a block for keys needing buffers of `nbytes[0]`,
    /// `nbytes[1]` …, when more than one key needs one.
    pub fn reserve(
        reusable: Option<NDArray>,
        nbytes: impl IntoIterator<Item = usize>,
    ) -> Result<SumBuffers> {
        let mut needing = nbytes.into_iter().filter(|&n| n > 0).map(part_bytes);
        let first = needing.next();
        let rest: usize = needing.sum();
        let reserved = match (first, rest) {
            (Some(_), 1..) => Some(reserve_buffer(rest)?),
            _ => None,
        };
        Ok(SumBuffers {
            reusable,
            reserved,
            block: None,
            next: 0,
        })
    }

    /// The next part of the block, shaped like `stored`.
    fn part_like(&mut self, stored: &NDArray) -> Option<NDArray> {
        if self.block.is_none() {
            self.block = Some(self.reserved.take()?.into_array());
        }
        let part = self.block.as_ref()?.part_like(self.next, stored)?;
        self.next += part_bytes(stored.nbytes());
        Some(part)
    }
}

impl SumMemory for SumBuffers {
    fn take_like(&mut self, stored: &NDArray) -> Result<NDArray> {
        if let Some(buffer) = self.reusable.take().and_then(|b| b.recycle_as(stored)) {
            return Ok(buffer);
        }
        match self.part_like(stored) {
            Some(part) => Ok(part),
            None => stored.like(),
        }
    }

    fn give_back(&mut self, recv: NDArray) {
        self.reusable.give_back(recv);
    }
}

/// Bytes a part of the block takes: whole cache lines, so every part suits every dtype.
fn part_bytes(nbytes: usize) -> usize {
    nbytes.next_multiple_of(64)
}
