//! Copies and sums between arrays: the one place where several arrays' memory is locked
//! at once (through [`OrderedLocks`]).

use smallvec::SmallVec;

use std::sync::Arc;

use super::chunk::{self, OrderedLocks};
use super::kernels::{self, Elems, SumOrder};
use super::{Context, NDArray};
use crate::error::{Error, Result};

impl NDArray {
    /// `self = srcs[0] + srcs[1] + …`, added left to right, converting dtypes (one source:
    /// a converting copy). Shapes are the caller's to check.
    pub fn assign_sum(&self, srcs: &[&NDArray]) -> Result<()> {
        self.assign_sum_in(SumOrder::Sequential, srcs)
    }

    /// As [`NDArray::assign_sum`], adding in `order`.
    pub fn assign_sum_in(&self, order: SumOrder, srcs: &[&NDArray]) -> Result<()> {
        let dst_chunk = self.dense("cannot write it")?;
        if srcs.is_empty() {
            return Err(Error::invalid("nothing to sum"));
        }
        // One source in other memory (a pull, or a push of one value): two locks, no
        // bookkeeping.
        if let [src] = srcs {
            let src_chunk = src.dense("cannot read it")?;
            if !Arc::ptr_eq(src_chunk, dst_chunk) {
                chunk::with_pair(dst_chunk, src_chunk, |dst, from| {
                    let from = Elems {
                        bytes: &from[src.byte_range()],
                        dtype: src.0.dtype,
                    };
                    kernels::sum_into(&mut dst[self.byte_range()], self.0.dtype, &[from], order)
                });
                return Ok(());
            }
        }
        // A source in the destination's own memory is copied out first.
        let mut snapshots: SmallVec<[Option<Vec<u8>>; 4]> = SmallVec::with_capacity(srcs.len());
        for s in srcs {
            s.dense("cannot read it")?;
            snapshots.push(if s.shares_chunk(self) {
                Some(s.to_bytes()?)
            } else {
                None
            });
        }
        let locked = srcs
            .iter()
            .zip(&snapshots)
            .filter(|(_, snap)| snap.is_none())
            .filter_map(|(s, _)| s.0.chunk.as_ref());
        let mut locks = OrderedLocks::take(dst_chunk, locked);
        let (dst, sources) = locks.split();
        let elems: SmallVec<[Elems<'_>; 4]> = srcs
            .iter()
            .zip(&snapshots)
            .map(|(s, snap)| Elems {
                bytes: match (snap, &s.0.chunk) {
                    (Some(bytes), _) => bytes,
                    (None, Some(chunk)) => &sources.bytes(chunk)[s.byte_range()],
                    (None, None) => unreachable!("checked dense above"),
                },
                dtype: s.0.dtype,
            })
            .collect();
        kernels::sum_into(&mut dst[self.byte_range()], self.0.dtype, &elems, order);
        Ok(())
    }

    /// A deep copy in a new chunk.
    pub fn deep_copy(&self, ctx: Context) -> Result<NDArray> {
        self.dense("cannot copy it")?;
        let copy = NDArray::new(self.0.shape.clone(), self.0.dtype, ctx)?;
        copy.assign_sum(&[self])?;
        Ok(copy)
    }
}

#[cfg(test)]
mod tests {
    use crate::ndarray::{Context, DType, NDArray};

    fn filled(values: &[f32]) -> NDArray {
        NDArray::from_slice(&[values.len()], values, Context::cpu(0)).unwrap()
    }

    #[test]
    fn sum_with_a_source_in_the_destination_memory() {
        let a = filled(&[1., 2.]);
        let b = filled(&[10., 20.]);
        a.assign_sum(&[&a, &b, &a]).unwrap();
        assert_eq!(a.to_vec::<f32>().unwrap(), vec![12., 24.]);
    }

    #[test]
    fn a_copy_converts_and_a_deep_copy_is_separate() {
        let a = filled(&[1.5, -2.0]);
        let i = NDArray::new(a.shape().clone(), DType::I32, Context::cpu(0)).unwrap();
        i.assign_sum(&[&a]).unwrap();
        assert_eq!(i.to_vec::<i32>().unwrap(), vec![1, -2]);
        let c = a.deep_copy(Context::cpu_pinned(0)).unwrap();
        a.copy_from_slice(&[0f32, 0.]).unwrap();
        assert_eq!(c.to_vec::<f32>().unwrap(), vec![1.5, -2.0]);
        assert_eq!(c.context(), Context::cpu_pinned(0));
        assert!(a.assign_sum(&[]).is_err());
        assert!(a.assign_sum(&[&NDArray::none()]).is_err());
    }

    #[test]
    fn sums_between_views_of_one_chunk() {
        let a = filled(&[1., 2., 3., 4.]);
        let (lo, hi) = (a.slice(0, 2).unwrap(), a.slice(2, 4).unwrap());
        lo.assign_sum(&[&hi, &lo]).unwrap();
        assert_eq!(a.to_vec::<f32>().unwrap(), vec![4., 6., 3., 4.]);
    }
}
