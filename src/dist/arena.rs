//! Serverless stored values laid out in blocks: the dense values of keys inited in one
//! call, one block per dtype, in ascending key order (the order in which a push hands its
//! keys to the engine). A push of those keys with no updater then packs its values
//! straight into the stored values and allreduces the block in place: the fused sum needs
//! no buffer and no copy back.

use std::collections::BTreeMap;

use parking_lot::Mutex;

use crate::error::Result;
use crate::kvstore::Entry;
use crate::ndarray::{DType, NDArray, Shape};

/// A store's blocks (kept as long as the store: a value that leaves its block, replaced by
/// one of another storage type, leaves its place unused).
#[derive(Default)]
pub struct Arenas(Mutex<Vec<NDArray>>);

impl Arenas {
    /// Moves the dense stored values of keys just inited into one block per dtype, where
    /// there are several of a dtype.
    pub fn lay_out(&self, added: &[(i32, &Entry)]) -> Result<()> {
        let mut by_dtype: BTreeMap<i32, Vec<(i32, &Entry, NDArray)>> = BTreeMap::new();
        for &(key, entry) in added {
            let stored = entry.stored();
            if !stored.is_sparse() {
                let keys = by_dtype.entry(stored.dtype().code()).or_default();
                keys.push((key, entry, stored));
            }
        }
        for mut keys in by_dtype.into_values().filter(|k| k.len() > 1) {
            keys.sort_by_key(|&(key, _, _)| key);
            let len = keys.iter().map(|(_, _, s)| s.size()).sum::<usize>();
            let first = &keys[0].2;
            let block = NDArray::new(Shape(vec![len as i64]), first.dtype(), first.context())?;
            let mut at = 0;
            for (_, entry, stored) in &keys {
                let place = block
                    .slice(at, at + stored.size())?
                    .reshape(&stored.shape().0, false)?;
                entry.relocate(place)?;
                at += stored.size();
            }
            self.0.lock().push(block);
        }
        Ok(())
    }

    /// The `len` elements of a block from where `first` starts, when `first` lies in one of
    /// this store's blocks and they fit there.
    pub fn span(&self, first: &NDArray, len: usize) -> Option<NDArray> {
        let blocks = self.0.lock();
        let block = blocks
            .iter()
            .find(|b| b.memory_id() == first.memory_id() && b.dtype() == first.dtype())?;
        let offset = (first.data_addr()? - block.data_addr()?) / first.dtype().size();
        block.slice(offset, offset + len).ok()
    }
}

/// Whether `values`, in order, lie one right after the other in one memory block, all
/// dense of `dtype`.
pub fn contiguous<'a>(dtype: DType, mut values: impl Iterator<Item = &'a NDArray>) -> bool {
    let Some(first) = values.next() else {
        return false;
    };
    let plain = |a: &NDArray| a.dtype() == dtype && !a.is_sparse();
    let mut end = match (plain(first), first.data_addr()) {
        (true, Some(at)) => at + first.nbytes(),
        _ => return false,
    };
    values.all(|v| {
        let next = plain(v) && v.memory_id() == first.memory_id() && v.data_addr() == Some(end);
        end += v.nbytes();
        next
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ndarray::Context;

    fn array(values: &[f32]) -> NDArray {
        NDArray::from_slice(&[values.len()], values, Context::cpu(0)).unwrap()
    }

    #[test]
    fn values_inited_together_share_a_block_in_key_order() {
        let (a, b, c) = (array(&[1., 2.]), array(&[3.]), array(&[4., 5., 6.]));
        let entries = [a, b, c].map(Entry::new);
        let arenas = Arenas::default();
        arenas
            .lay_out(&[(9, &entries[0]), (2, &entries[1]), (5, &entries[2])])
            .unwrap();
        let stored: Vec<NDArray> = entries.iter().map(|e| e.stored()).collect();
        assert_eq!(stored[0].to_vec::<f32>().unwrap(), [1., 2.]);
        let in_key_order = [&stored[1], &stored[2], &stored[0]];
        assert!(contiguous(DType::F32, in_key_order.into_iter()));
        assert!(!contiguous(DType::F32, stored.iter()), "not in key order");
        assert!(!contiguous(DType::F64, in_key_order.into_iter()));
        let span = arenas.span(&stored[2], 5).unwrap();
        assert_eq!(span.to_vec::<f32>().unwrap(), [4., 5., 6., 1., 2.]);
        assert!(arenas.span(&stored[2], 6).is_none(), "past the block's end");
        assert!(arenas.span(&array(&[1.]), 1).is_none(), "not in a block");
    }

    #[test]
    fn a_lone_value_of_its_dtype_stays_where_it_is() {
        let f64_value = NDArray::from_slice(&[1], &[7f64], Context::cpu(0)).unwrap();
        let entries = [array(&[1.]), f64_value.clone()].map(Entry::new);
        Arenas::default()
            .lay_out(&[(1, &entries[0]), (2, &entries[1])])
            .unwrap();
        assert!(entries[1].stored().same_memory(&f64_value));
    }
}
