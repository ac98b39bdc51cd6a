//! Dense n-dimensional arrays: a shared, locked block of memory (a chunk) and views on it.
//!
//! An `NDArray` is a cheap value: cloning it makes another view of the same memory, as an
//! MXNet handle copy does. Slice, At and Reshape give views that share the chunk; every
//! read and write goes through the chunk's lock, so concurrent calls never race inside
//! mxkv (memory written by C through `MXNDArrayGetData` is the caller's to order).

pub mod dtype;
pub mod io;
pub mod kernels;

use std::fmt;
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use dtype::DType;
use kernels::Elems;
pub use kernels::SumOrder;

use crate::error::{Error, Result};

/// The dimensions of an array.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shape(pub Vec<i64>);

impl Shape {
    /// The element count, or an error when a dimension is negative or the product overflows.
    pub fn size(&self) -> Result<usize> {
        let mut n: usize = 1;
        for &d in &self.0 {
            let d = usize::try_from(d)
                .map_err(|_| Error::invalid(format!("shape {self} has a negative dimension")))?;
            n = n.checked_mul(d).ok_or_else(|| Error::TooLarge {
                shape: self.to_string(),
                detail: "the element count overflows",
            })?;
        }
        Ok(n)
    }

    pub fn ndim(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

/// Where an array lives. mxkv is a CPU library: the three CPU device types are accepted
/// (reference §2.1), and each keeps its code so that `GetContext` reports what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub dev_type: i32,
    pub dev_id: i32,
}

/// cbindgen:ignore
impl Context {
    pub const CPU: i32 = 1;
    pub const GPU: i32 = 2;
    pub const CPU_PINNED: i32 = 3;
    pub const CPU_SHARED: i32 = 5;
    /// Highest dev_id accepted for CPU contexts.
    pub const MAX_DEV_ID: i32 = 63;

    pub fn new(dev_type: i32, dev_id: i32) -> Result<Context> {
        match dev_type {
            Context::CPU | Context::CPU_PINNED | Context::CPU_SHARED => {}
            Context::GPU => {
                return Err(Error::InvalidContext(format!(
                    "gpu({dev_id}) requested (dev_type 2), but mxkv runs on CPUs only: use cpu (1), cpu_pinned (3) or cpu_shared (5)"
                )))
            }
            _ => {
                return Err(Error::InvalidContext(format!(
                    "unknown dev_type {dev_type} (known: 1 cpu, 2 gpu, 3 cpu_pinned, 5 cpu_shared)"
                )))
            }
        }
        if !(0..=Context::MAX_DEV_ID).contains(&dev_id) {
            return Err(Error::InvalidContext(format!(
                "dev_id {dev_id} is out of range 0..={}",
                Context::MAX_DEV_ID
            )));
        }
        Ok(Context { dev_type, dev_id })
    }

    pub fn cpu(dev_id: i32) -> Context {
        Context {
            dev_type: Context::CPU,
            dev_id,
        }
    }
}

/// Storage types (reference §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Dense = 0,
    RowSparse = 1,
    Csr = 2,
}

impl Storage {
    pub fn from_code(code: i32) -> Result<Storage> {
        match code {
            0 => Ok(Storage::Dense),
            1 => Ok(Storage::RowSparse),
            2 => Ok(Storage::Csr),
            _ => Err(Error::UnknownStorage(code)),
        }
    }
}

/// A block of array memory, in whole cache lines. Every dtype is aligned, and a copy
/// between two whole arrays never meets the slow case of a destination 1–31 bytes past its
/// source modulo 4 KiB (4K aliasing), which makes a copy several times slower.
#[derive(Debug)]
pub struct Chunk {
    lines: RwLock<Vec<Line>>,
}

#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
struct Line([u64; 8]);

impl Chunk {
    fn zeroed(nbytes: usize) -> Result<Arc<Chunk>> {
        let n = nbytes.div_ceil(size_of::<Line>());
        let mut lines = Vec::new();
        #[cfg(test)]
        if tests::FAIL_ALLOCATIONS.get() {
            return Err(Error::OutOfMemory(nbytes));
        }
        lines
            .try_reserve_exact(n)
            .map_err(|_| Error::OutOfMemory(nbytes))?;
        lines.resize(n, Line([0; 8]));
        Ok(Arc::new(Chunk {
            lines: RwLock::new(lines),
        }))
    }

    fn nbytes(&self) -> usize {
        self.lines.read().len() * size_of::<Line>()
    }

    fn addr(self: &Arc<Chunk>) -> usize {
        Arc::as_ptr(self) as usize
    }
}

/// A dense array, or the empty ("none") array of `MXNDArrayCreateNone`. Clones share one
/// description of the view, so copying an array value (as every call does) costs one
/// reference count.
#[derive(Debug, Clone)]
pub struct NDArray(Arc<View>);

/// What an array is: which memory, and how it is shaped.
#[derive(Debug, Clone)]
struct View {
    chunk: Option<Arc<Chunk>>,
    /// Offset of the view's first element in the chunk, in elements.
    offset: usize,
    shape: Shape,
    size: usize,
    dtype: DType,
    ctx: Context,
}

/// Largest array mxkv allocates: what a byte offset can address.
const MAX_BYTES: usize = isize::MAX as usize;

impl NDArray {
    fn of(view: View) -> NDArray {
        NDArray(Arc::new(view))
    }

    /// A zero-filled array.
    pub fn new(shape: Shape, dtype: DType, ctx: Context) -> Result<NDArray> {
        let size = shape.size()?;
        let nbytes = size
            .checked_mul(dtype.size())
            .filter(|&b| b <= MAX_BYTES)
            .ok_or_else(|| Error::TooLarge {
                shape: shape.to_string(),
                detail: "its size in bytes overflows",
            })?;
        Ok(NDArray::of(View {
            chunk: Some(Chunk::zeroed(nbytes)?),
            offset: 0,
            shape,
            size,
            dtype,
            ctx,
        }))
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
        })
    }

    pub fn is_none(&self) -> bool {
        self.0.chunk.is_none()
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
        Storage::Dense
    }

    pub fn nbytes(&self) -> usize {
        self.0.size * self.0.dtype.size()
    }

    fn dense(&self, what: &'static str) -> Result<&Arc<Chunk>> {
        self.0.chunk.as_ref().ok_or(Error::NoneArray(what))
    }

    fn byte_range(&self) -> std::ops::Range<usize> {
        let start = self.0.offset * self.0.dtype.size();
        start..start + self.nbytes()
    }

    /// Address of the first element, for `MXNDArrayGetData` (the memory stays put for the
    /// chunk's whole life); `None` for the empty array.
    pub fn data_addr(&self) -> Option<usize> {
        let chunk = self.0.chunk.as_ref()?;
        let lines = chunk.lines.read();
        let base: &[u8] = bytemuck::cast_slice(&lines[..]);
        Some(base.as_ptr() as usize + self.byte_range().start)
    }

    /// True when both are views of the same elements (same chunk, offset and dtype).
    pub fn same_memory(&self, other: &NDArray) -> bool {
        match (&self.0.chunk, &other.0.chunk) {
            (Some(a), Some(b)) => {
                Arc::ptr_eq(a, b)
                    && self.0.offset == other.0.offset
                    && self.0.dtype == other.0.dtype
            }
            _ => false,
        }
    }

    /// Identity of the memory block under this view (`None` for the empty array): views
    /// with one id share one lock, and locks on several blocks are taken in ascending id.
    pub fn memory_id(&self) -> Option<usize> {
        self.0.chunk.as_ref().map(|c| c.addr())
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

    fn shares_chunk(&self, other: &NDArray) -> bool {
        matches!((&self.0.chunk, &other.0.chunk), (Some(a), Some(b)) if Arc::ptr_eq(a, b))
    }

    /// Runs `f` on the view's bytes under the chunk's read lock.
    pub fn read<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let words = self.dense("cannot read it")?.lines.read();
        let bytes: &[u8] = bytemuck::cast_slice(&words[..]);
        Ok(f(&bytes[self.byte_range()]))
    }

    /// Runs `f` on the view's bytes under the chunk's write lock.
    pub fn write<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        let mut words = self.dense("cannot write it")?.lines.write();
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut words[..]);
        let range = self.byte_range();
        Ok(f(&mut bytes[range]))
    }

    /// `MXNDArraySyncCopyFromCPU`: `count` elements of this array's dtype.
    pub fn copy_from_bytes(&self, src: &[u8], count: usize) -> Result<()> {
        self.check_count(count)?;
        if count == 0 {
            return Ok(());
        }
        self.write(|dst| dst.copy_from_slice(&src[..dst.len()]))
    }

    /// `MXNDArraySyncCopyToCPU`.
    pub fn copy_to_bytes(&self, dst: &mut [u8], count: usize) -> Result<()> {
        self.check_count(count)?;
        if count == 0 {
            return Ok(());
        }
        self.read(|src| dst[..src.len()].copy_from_slice(src))
    }

    fn check_count(&self, count: usize) -> Result<()> {
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

    /// Checks that `other` can be copied or summed into this array.
    pub fn check_same_shape(&self, from: &NDArray) -> Result<()> {
        if self.0.shape != from.0.shape {
            return Err(Error::ShapeMismatch {
                from: from.0.shape.clone(),
                to: self.0.shape.clone(),
            });
        }
        Ok(())
    }

    /// `self = srcs[0] + srcs[1] + …`, added left to right, converting dtypes (one source:
    /// a converting copy). Shapes are the caller's to check.
    pub fn assign_sum(&self, srcs: &[&NDArray]) -> Result<()> {
        self.assign_sum_in(SumOrder::Sequential, srcs)
    }

    /// As [`NDArray::assign_sum`], adding in `order`. Locks are taken once per chunk, in
    /// address order, so that two threads copying in opposite directions cannot deadlock.
    pub fn assign_sum_in(&self, order: SumOrder, srcs: &[&NDArray]) -> Result<()> {
        let dst_chunk = self.dense("cannot write it")?;
        if srcs.is_empty() {
            return Err(Error::invalid("nothing to sum"));
        }
        if let [src] = srcs {
            if !src.shares_chunk(self) {
                return self.assign_from(src);
            }
        }
        // A source in the destination's own memory is copied out first.
        let mut snapshots: Vec<Option<Vec<u8>>> = Vec::with_capacity(srcs.len());
        for s in srcs {
            s.dense("cannot read it")?;
            snapshots.push(if s.shares_chunk(self) {
                Some(s.to_bytes()?)
            } else {
                None
            });
        }
        let mut others: Vec<&Arc<Chunk>> = srcs
            .iter()
            .zip(&snapshots)
            .filter(|(_, snap)| snap.is_none())
            .filter_map(|(s, _)| s.0.chunk.as_ref())
            .collect();
        others.sort_by_key(|c| c.addr());
        others.dedup_by_key(|c| c.addr());

        let mut reads: Vec<(usize, RwLockReadGuard<'_, Vec<Line>>)> =
            Vec::with_capacity(others.len());
        let mut write: Option<RwLockWriteGuard<'_, Vec<Line>>> = None;
        let dst_addr = dst_chunk.addr();
        let mut pending_dst = true;
        for c in &others {
            if pending_dst && dst_addr < c.addr() {
                write = Some(dst_chunk.lines.write());
                pending_dst = false;
            }
            reads.push((c.addr(), c.lines.read()));
        }
        let mut write = write.unwrap_or_else(|| dst_chunk.lines.write());

        let elems: Vec<Elems<'_>> = srcs
            .iter()
            .zip(&snapshots)
            .map(|(s, snap)| match snap {
                Some(bytes) => Elems {
                    bytes,
                    dtype: s.0.dtype,
                },
                None => {
                    let addr = s.0.chunk.as_ref().map(|c| c.addr()).unwrap_or_default();
                    let words = &reads
                        .iter()
                        .find(|(a, _)| *a == addr)
                        .expect("source chunk is locked")
                        .1;
                    let bytes: &[u8] = bytemuck::cast_slice(&words[..]);
                    Elems {
                        bytes: &bytes[s.byte_range()],
                        dtype: s.0.dtype,
                    }
                }
            })
            .collect();
        let range = self.byte_range();
        let dst: &mut [u8] = bytemuck::cast_slice_mut(&mut write[..]);
        kernels::sum_into(&mut dst[range], self.0.dtype, &elems, order);
        Ok(())
    }

    /// The one-source case of `assign_sum` (a pull, or a push of one value): two locks,
    /// no bookkeeping.
    fn assign_from(&self, src: &NDArray) -> Result<()> {
        let (dst_chunk, src_chunk) = (self.dense("cannot write it")?, src.dense("cannot read it")?);
        let (mut write, read) = if dst_chunk.addr() < src_chunk.addr() {
            let w = dst_chunk.lines.write();
            (w, src_chunk.lines.read())
        } else {
            let r = src_chunk.lines.read();
            (dst_chunk.lines.write(), r)
        };
        let src_bytes: &[u8] = bytemuck::cast_slice(&read[..]);
        let dst_bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut write[..]);
        let range = self.byte_range();
        kernels::sum_into(
            &mut dst_bytes[range],
            self.0.dtype,
            &[Elems {
                bytes: &src_bytes[src.byte_range()],
                dtype: src.0.dtype,
            }],
            SumOrder::Sequential,
        );
        Ok(())
    }

    /// A deep copy in a new chunk.
    pub fn deep_copy(&self, ctx: Context) -> Result<NDArray> {
        self.dense("cannot copy it")?;
        let copy = NDArray::new(self.0.shape.clone(), self.0.dtype, ctx)?;
        copy.assign_sum(&[self])?;
        Ok(copy)
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

    /// Bytes of the memory this array views (all of it, not just the view).
    pub fn capacity(&self) -> usize {
        self.0.chunk.as_ref().map_or(0, |c| c.nbytes())
    }

    /// Rows `begin..end` along the first dimension, sharing memory.
    pub fn slice(&self, begin: usize, end: usize) -> Result<NDArray> {
        self.dense("cannot slice it")?;
        let rows = *self
            .0
            .shape
            .0
            .first()
            .ok_or_else(|| Error::invalid("cannot slice a 0-dimensional array"))?
            as usize;
        if begin > end || end > rows {
            return Err(Error::invalid(format!(
                "slice [{begin}, {end}) is out of range for shape {} (first dimension {rows})",
                self.0.shape
            )));
        }
        let row = self.0.size.checked_div(rows).unwrap_or(0);
        let mut shape = self.0.shape.clone();
        shape.0[0] = (end - begin) as i64;
        Ok(NDArray::of(View {
            offset: self.0.offset + begin * row,
            size: (end - begin) * row,
            shape,
            ..(*self.0).clone()
        }))
    }

    /// Row `idx`, without the first dimension (a 1-D array gives shape [1]), sharing memory.
    pub fn at(&self, idx: usize) -> Result<NDArray> {
        self.dense("cannot index it")?;
        let rows = self.0.shape.0.first().copied().unwrap_or(0) as usize;
        if idx >= rows {
            return Err(Error::invalid(format!(
                "index {idx} is out of range for shape {} (first dimension {rows})",
                self.0.shape
            )));
        }
        let row = self.slice(idx, idx + 1)?;
        if self.0.shape.ndim() > 1 {
            Ok(NDArray::of(View {
                shape: Shape(self.0.shape.0[1..].to_vec()),
                ..(*row.0).clone()
            }))
        } else {
            Ok(row)
        }
    }

    /// The same elements under another shape (`dims` may hold one -1, inferred, and 0s,
    /// which copy the matching dimension; `reverse` matches them from the right).
    pub fn reshape(&self, dims: &[i64], reverse: bool) -> Result<NDArray> {
        self.dense("cannot reshape it")?;
        let shape = infer_shape(&self.0.shape, dims, reverse)?;
        if shape.size()? != self.0.size {
            return Err(Error::invalid(format!(
                "cannot reshape {} ({} elements) to {} ({} elements)",
                self.0.shape,
                self.0.size,
                shape,
                shape.size()?
            )));
        }
        Ok(NDArray::of(View {
            shape,
            ..(*self.0).clone()
        }))
    }
}

fn infer_shape(from: &Shape, dims: &[i64], reverse: bool) -> Result<Shape> {
    let n = from.ndim();
    let mut out = Vec::with_capacity(dims.len());
    let mut unknown = None;
    for (i, &d) in dims.iter().enumerate() {
        let copied = if reverse {
            (n + i).checked_sub(dims.len())
        } else {
            Some(i)
        };
        out.push(match d {
            0 => *copied.and_then(|j| from.0.get(j)).ok_or_else(|| {
                Error::invalid(format!(
                    "reshape dimension {i} is 0 (copy), but {from} has no matching dimension"
                ))
            })?,
            -1 => {
                if unknown.replace(i).is_some() {
                    return Err(Error::invalid(format!(
                        "reshape {dims:?}: only one dimension can be -1"
                    )));
                }
                1
            }
            d if d > 0 => d,
            d => {
                return Err(Error::invalid(format!(
                    "reshape {dims:?}: dimension {d} is not supported (use -1 or 0)"
                )))
            }
        });
    }
    if let Some(i) = unknown {
        let known: usize = Shape(out.clone()).size()?;
        let total = from.size()?;
        if known == 0 || total % known != 0 {
            return Err(Error::invalid(format!(
                "cannot reshape {from} to {dims:?}: the -1 dimension cannot be inferred"
            )));
        }
        out[i] = (total / known) as i64;
    }
    Ok(Shape(out))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    thread_local! {
        /// Makes every array allocation on this thread fail, to test what out of memory does.
        pub(crate) static FAIL_ALLOCATIONS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    fn filled(shape: &[i64], values: &[f32]) -> NDArray {
        let a = NDArray::new(Shape(shape.to_vec()), DType::F32, Context::cpu(0)).unwrap();
        a.copy_from_bytes(bytemuck::cast_slice(values), values.len())
            .unwrap();
        a
    }

    fn values(a: &NDArray) -> Vec<f32> {
        bytemuck::cast_slice(&a.to_bytes().unwrap()).to_vec()
    }

    #[test]
    fn views_share_memory() {
        let a = filled(&[3, 2], &[1., 2., 3., 4., 5., 6.]);
        let row = a.at(1).unwrap();
        assert_eq!(row.shape(), &Shape(vec![2]));
        assert_eq!(values(&row), vec![3., 4.]);
        row.copy_from_bytes(bytemuck::cast_slice(&[9f32, 9.]), 2)
            .unwrap();
        assert_eq!(values(&a), vec![1., 2., 9., 9., 5., 6.]);
        let s = a.slice(1, 3).unwrap();
        assert_eq!(values(&s), vec![9., 9., 5., 6.]);
        let r = a.reshape(&[-1, 3], false).unwrap();
        assert_eq!(r.shape(), &Shape(vec![2, 3]));
        let r = a.reshape(&[0, -1], false).unwrap();
        assert_eq!(r.shape(), &Shape(vec![3, 2]));
        assert!(a.reshape(&[4, -1], false).is_err());
        assert!(a.reshape(&[-1, -1], false).is_err());
        assert!(a.slice(2, 4).is_err());
        assert!(a.at(3).is_err());
    }

    #[test]
    fn sum_with_a_source_in_the_destination_memory() {
        let a = filled(&[2], &[1., 2.]);
        let b = filled(&[2], &[10., 20.]);
        a.assign_sum(&[&a, &b, &a]).unwrap();
        assert_eq!(values(&a), vec![12., 24.]);
    }

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
    fn contexts_are_checked() {
        assert!(Context::new(2, 0).is_err());
        assert!(Context::new(4, 0).is_err());
        assert!(Context::new(1, 64).is_err());
        assert_eq!(
            Context::new(3, 63).unwrap(),
            Context {
                dev_type: 3,
                dev_id: 63
            }
        );
    }
}
