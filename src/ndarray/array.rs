//! The array value: a view (shape, dtype, context, offset) of a chunk of memory.

use std::sync::{Arc, Weak};

use super::chunk::{Chunk, Reservation};
use super::sparse::Blobs;
use super::{Context, DType, Shape, Storage};
use crate::error::{Error, Result};

/// How many arrays ahead of its copy a run of copies asks for memory to write.
pub(crate) const WRITE_AHEAD: usize = 2;
/// The most bytes of one array it asks for: a larger array's copy lasts long enough for the
/// CPU's own prefetching to catch on.
pub(crate) const PREFETCH_MOST: usize = 64 << 10;

/// A dense array, a sparse one (`sparse.rs`), or the empty ("none") array of
/// `MXNDArrayCreateNone`.
///
/// Cloning an array makes another view of the same memory, as an MXNet handle copy does,
/// and costs one reference count. Every read and write goes through the memory's lock.
///
/// ```
/// use mxkv::ndarray::{Context, NDArray};
///
/// let a = NDArray::from_slice(&[2, 2], &[1.0f32, 2.0, 3.0, 4.0], Context::cpu(0))?;
/// let row = a.at(1)?;                      // a view of the second row
/// row.copy_from_slice(&[7.0f32, 8.0])?;
/// assert_eq!(a.to_vec::<f32>()?, [1.0, 2.0, 7.0, 8.0]);
/// assert_eq!(a.to_vec::<i64>()?, [1, 2, 7, 8]); // converted to the type asked for
/// # Ok::<(), mxkv::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct NDArray(pub(super) Arc<View>);

/// A reference to an array that does not keep it alive ([`NDArray::downgrade`]).
#[derive(Debug)]
pub struct WeakArray(Weak<View>);

impl WeakArray {
    /// The array, unless every [`NDArray`] of it was dropped.
    pub fn upgrade(&self) -> Option<NDArray> {
        self.0.upgrade().map(NDArray)
    }
}

/// What an array is: which memory, and how it is shaped.
#[derive(Debug, Clone)]
pub(super) struct View {
    pub(super) chunk: Option<Arc<Chunk>>,
    /// Offset of the view's first element in the chunk, in elements.
    pub(super) offset: usize,
    pub(super) shape: Shape,
    pub(super) size: usize,
    pub(super) dtype: DType,
    pub(super) ctx: Context,
    /// The blobs of a row_sparse or csr array (whose `chunk` is `None`).
    pub(super) sparse: Option<Arc<Blobs>>,
}

/// An array's memory, allocated but untouched until it becomes the array
/// ([`NDArray::reserve`]).
#[derive(Debug)]
pub struct Reserved {
    memory: Reservation,
    view: View,
}

impl Reserved {
    /// The zero-filled array; allocates nothing.
    pub fn into_array(self) -> NDArray {
        NDArray::of(View {
            chunk: Some(self.memory.into_chunk()),
            ..self.view
        })
    }
}

/// Largest array mxkv allocates: what a byte offset can address.
const MAX_BYTES: usize = isize::MAX as usize;

impl NDArray {
    pub(super) fn of(view: View) -> NDArray {
        NDArray(Arc::new(view))
    }

    /// A zero-filled array.
    pub fn new(shape: Shape, dtype: DType, ctx: Context) -> Result<NDArray> {
        Ok(NDArray::reserve(shape, dtype, ctx)?.into_array())
    }

    /// The memory of a zero-filled array, allocated now and made into the array later
    /// ([`Reserved::into_array`]) without allocating: for a call that must hold all the
    /// memory it may need before it changes anything.
    pub fn reserve(shape: Shape, dtype: DType, ctx: Context) -> Result<Reserved> {
        let size = shape.size()?;
        let nbytes = size
            .checked_mul(dtype.size())
            .filter(|&b| b <= MAX_BYTES)
            .ok_or_else(|| Error::TooLarge {
                shape: shape.to_string(),
                detail: "its size in bytes overflows",
            })?;
        Ok(Reserved {
            memory: Chunk::reserve(nbytes)?,
            view: View {
                chunk: None,
                offset: 0,
                shape,
                size,
                dtype,
                ctx,
                sparse: None,
            },
        })
    }

    /// The empty array: no shape, no memory.
    pub fn none() -> NDArray {
        NDArray::of(View {
            chunk: None,
            offset: 0,
            shape: Shape::default(),
            size: 0,
            dtype: DType::F32,
            ctx: Context::cpu(0),
            sparse: None,
        })
    }

    pub fn is_none(&self) -> bool {
        self.0.chunk.is_none() && self.0.sparse.is_none()
    }

    pub fn shape(&self) -> &Shape {
        &self.0.shape
    }

    /// Element count.
    pub fn size(&self) -> usize {
        self.0.size
    }

    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    pub fn context(&self) -> Context {
        self.0.ctx
    }

    pub fn storage(&self) -> Storage {
        self.sparse_storage().unwrap_or(Storage::Dense)
    }

    pub fn nbytes(&self) -> usize {
        self.0.size * self.0.dtype.size()
    }

    pub(super) fn dense(&self, what: &'static str) -> Result<&Arc<Chunk>> {
        match (&self.0.chunk, self.sparse_storage()) {
            (Some(chunk), _) => Ok(chunk),
            (None, Some(stype)) => Err(Error::NotDense {
                stype: stype.name(),
                what,
            }),
            (None, None) => Err(Error::NoneArray(what)),
        }
    }

    pub(super) fn byte_range(&self) -> std::ops::Range<usize> {
        let start = self.0.offset * self.0.dtype.size();
        start..start + self.nbytes()
    }

    /// Address of the first element, for `MXNDArrayGetData` (the memory stays put for the
    /// chunk's whole life); `None` for the empty array.
    #[inline]
    pub fn data_addr(&self) -> Option<usize> {
        match &self.0.chunk {
            Some(chunk) => Some(chunk.base_addr() + self.0.offset * self.0.dtype.size()),
            None => self.parts()?.data.data_addr(),
        }
    }

    /// Asks the CPU to fetch the bytes `range` of this array's memory (clamped to its
    /// size), to be written soon: a hint, that changes nothing. A run of copies into many
    /// small arrays, each in its own allocation, otherwise waits for memory at each one's
    /// start: it asks for the array [`WRITE_AHEAD`] copies ahead, up to [`PREFETCH_MOST`]
    /// bytes of it.
    #[inline]
    pub(crate) fn prefetch_write(&self, range: std::ops::Range<usize>) {
        let end = range.end.min(self.nbytes());
        if let (Some(addr), true) = (self.data_addr(), range.start < end) {
            crate::ffi::cache::prefetch_write(addr + range.start, end - range.start);
        }
    }

    /// True when both are views of the same elements (same chunk, offset and dtype).
    pub fn same_memory(&self, other: &NDArray) -> bool {
        self.shares_chunk(other) && self.0.offset == other.0.offset && self.0.dtype == other.0.dtype
    }

    /// Identity of the memory block under this view (`None` for the empty array): views
    /// with one id share one lock, and locks on several blocks are taken in ascending id.
    pub fn memory_id(&self) -> Option<usize> {
        self.0.chunk.as_ref().map(|c| c.addr())
    }

    /// A reference to this array that does not keep it alive.
    pub fn downgrade(&self) -> WeakArray {
        WeakArray(Arc::downgrade(&self.0))
    }

    /// True when no other array or handle refers to this array's memory.
    pub fn is_sole_view(&self) -> bool {
        Arc::strong_count(&self.0) == 1
            && self
                .0
                .chunk
                .as_ref()
                .is_some_and(|c| Arc::strong_count(c) == 1)
    }

    pub(super) fn shares_chunk(&self, other: &NDArray) -> bool {
        matches!((&self.0.chunk, &other.0.chunk), (Some(a), Some(b)) if Arc::ptr_eq(a, b))
    }

    /// Runs `f` on the view's bytes under the memory's read lock.
    pub fn read<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let range = self.byte_range();
        Ok(self.dense("cannot read it")?.read(|b| f(&b[range])))
    }

    /// Runs `f` on the view's bytes under the memory's write lock.
    pub fn write<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        let range = self.byte_range();
        Ok(self.dense("cannot write it")?.write(|b| f(&mut b[range])))
    }

    /// `MXNDArraySyncCopyFromCPU`: `count` elements of this array's dtype (of a sparse
    /// array: its stored values, which must be all its elements, as in MXNet).
    pub fn copy_from_bytes(&self, src: &[u8], count: usize) -> Result<()> {
        self.check_count(count)?;
        if let Some(data) = self.sparse_data_for_copy(count)? {
            return data.copy_from_bytes(src, count);
        }
        if count == 0 {
            return Ok(());
        }
        self.write(|dst| dst.copy_from_slice(&src[..dst.len()]))
    }

    /// Addresses of the whole memory block under this view (not just the view); `None` for
    /// the empty array.
    pub fn memory_span(&self) -> Option<std::ops::Range<usize>> {
        let chunk = self.0.chunk.as_ref()?;
        Some(chunk.base_addr()..chunk.base_addr() + chunk.nbytes())
    }

    /// `MXNDArraySyncCopyFromCPU` from bytes that lie in this array's own memory block, at
    /// `src_offset` bytes from its start (another view of the same memory, or this one):
    /// copied as `memmove` does, under the one write lock.
    pub fn copy_within_memory(&self, src_offset: usize, count: usize) -> Result<()> {
        self.check_count(count)?;
        let dst = self.byte_range();
        let src = src_offset..src_offset.saturating_add(dst.len());
        let chunk = self.dense("cannot write it")?;
        if src.end > chunk.nbytes() {
            return Err(Error::invalid(
                "the source starts inside the array's memory but runs past its end",
            ));
        }
        chunk.write(|b| b.copy_within(src, dst.start));
        Ok(())
    }

    /// `MXNDArraySyncCopyToCPU` (of a sparse array: as `copy_from_bytes`).
    pub fn copy_to_bytes(&self, dst: &mut [u8], count: usize) -> Result<()> {
        self.check_count(count)?;
        if let Some(data) = self.sparse_data_for_copy(count)? {
            return data.copy_to_bytes(dst, count);
        }
        if count == 0 {
            return Ok(());
        }
        self.read(|src| dst[..src.len()].copy_from_slice(src))
    }

    /// Checks that a copy of `count` elements fits this array exactly.
    pub fn check_count(&self, count: usize) -> Result<()> {
        if count != self.0.size {
            return Err(Error::CopySize {
                expected: self.0.size,
                got: count,
            });
        }
        Ok(())
    }

    /// The view's bytes, copied out (out of memory is an error, not an abort).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.read(|b| {
            let mut copy = Vec::new();
            copy.try_reserve_exact(b.len())
                .map_err(|_| Error::OutOfMemory(b.len()))?;
            copy.extend_from_slice(b);
            Ok(copy)
        })?
    }

    /// Checks that `from` can be copied or summed into this array (MXNet's message: `from`
    /// is the source, `to` this array).
    pub fn check_same_shape(&self, from: &NDArray) -> Result<()> {
        if self.0.shape != from.0.shape {
            return Err(Error::ShapeMismatch {
                from: from.0.shape.to_string(),
                to: self.0.shape.to_string(),
            });
        }
        Ok(())
    }

    /// A fresh array with this one's shape, dtype and context (for transient sums).
    pub fn like(&self) -> Result<NDArray> {
        NDArray::new(self.0.shape.clone(), self.0.dtype, self.0.ctx)
    }

    /// This array's memory as an array shaped like `like`, when no other array refers to
    /// it and it is large enough: a transient buffer put to use again.
    pub fn recycle_as(self, like: &NDArray) -> Option<NDArray> {
        let fits = self.is_sole_view() && self.capacity() >= like.nbytes();
        fits.then(|| {
            NDArray::of(View {
                chunk: self.0.chunk.clone(),
                offset: 0,
                ..(*like.0).clone()
            })
        })
    }

    /// The part of this array's memory that starts `byte_offset` bytes into it, as an array
    /// shaped like `like`, when it fits there and the offset suits `like`'s dtype: one of
    /// several buffers carved from one block.
    pub fn part_like(&self, byte_offset: usize, like: &NDArray) -> Option<NDArray> {
        let elem = like.0.dtype.size();
        let fits = byte_offset % elem == 0
            && byte_offset
                .checked_add(like.nbytes())
                .is_some_and(|end| end <= self.capacity());
        fits.then(|| {
            NDArray::of(View {
                chunk: self.0.chunk.clone(),
                offset: byte_offset / elem,
                ..(*like.0).clone()
            })
        })
    }

    /// The same view, reporting `ctx` as where it lives (every context of a CPU build is
    /// host memory).
    pub fn in_context(&self, ctx: Context) -> NDArray {
        NDArray::of(View {
            ctx,
            ..(*self.0).clone()
        })
    }

    /// Bytes of the memory this array views (all of it, not just the view).
    pub fn capacity(&self) -> usize {
        self.0.chunk.as_ref().map_or(0, |c| c.nbytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_shapes_are_errors_not_aborts() {
        let huge = Shape(vec![1 << 31, 1 << 31, 1 << 31]);
        assert!(matches!(
            NDArray::new(huge, DType::F32, Context::cpu(0)),
            Err(Error::TooLarge { .. })
        ));
        let big = Shape(vec![1 << 40, 1 << 20]);
        assert!(NDArray::new(big, DType::F64, Context::cpu(0)).is_err());
    }

    #[test]
    fn a_write_prefetch_changes_nothing_whatever_the_range() {
        let a = NDArray::from_slice(&[5], &[1f32, 2.0, 3.0, 4.0, 5.0], Context::cpu(0)).unwrap();
        let view = a.slice(1, 4).unwrap();
        let before = a.to_bytes().unwrap();
        for range in [0..0, 0..20, 3..9, 19..40, 100..200, 0..usize::MAX] {
            a.prefetch_write(range.clone());
            view.prefetch_write(range);
        }
        NDArray::none().prefetch_write(0..PREFETCH_MOST);
        assert_eq!(a.to_bytes().unwrap(), before);
    }

    #[test]
    fn the_none_array_has_no_memory() {
        let n = NDArray::none();
        assert!(n.is_none());
        assert_eq!(n.data_addr(), None);
        assert!(matches!(n.to_bytes(), Err(Error::NoneArray(_))));
        assert_eq!(n.capacity(), 0);
    }

    #[test]
    fn a_shape_mismatch_names_the_source_first() {
        let stored = NDArray::new(Shape(vec![2, 3]), DType::F32, Context::cpu(0)).unwrap();
        let out = NDArray::new(Shape(vec![3, 3]), DType::F32, Context::cpu(0)).unwrap();
        assert_eq!(
            out.check_same_shape(&stored).unwrap_err().to_string(),
            "operands shape mismatch from.shape = [2,3] to.shape=[3,3]"
        );
    }
}
