//! Serverless `dist_sync` (spec §6, beyond MXNet): with `DMLC_NUM_SERVER=0` each push is
//! an allreduce among the workers, and every worker applies the sum itself, so all keep
//! identical replicas — Horovod's model behind MXNet's API.
//!
//! The keys of one push call are fused: each key's merged value is summed straight into
//! its place in one buffer per element type, the buffers are allreduced together, and
//! each key's sum is a view of its place in the result, so that a call of 1000 small keys
//! costs one allreduce, not 1000.

use std::collections::BTreeMap;
use std::time::Instant;

use parking_lot::Mutex;

use super::net::{lost_peer, timeout, Net, NOT_ANSWERING};
use crate::error::Result;
use crate::ffi::mpi::{Prim, Request};
use crate::kvstore::{KeyPush, Merged};
use crate::ndarray::{Context, DType, NDArray, Shape};

/// The element type a dtype is summed in: its own where MPI adds it, else float64 (float16,
/// bfloat16 and the like travel widened).
pub(super) fn prim(dtype: DType) -> (Prim, DType) {
    match dtype {
        DType::F32 => (Prim::F32, dtype),
        DType::I32 => (Prim::I32, dtype),
        DType::I64 => (Prim::I64, dtype),
        DType::I8 => (Prim::I8, dtype),
        DType::U8 => (Prim::U8, dtype),
        _ => (Prim::F64, DType::F64),
    }
}

/// How many buffers a store keeps.
const KEPT_BUFFERS: usize = 4;

/// The buffers of a store's allreduces, used again once no sum handed out refers to them
/// (so that large pushes do not pay for fresh memory each time).
#[derive(Default)]
pub struct Buffers(Mutex<Vec<NDArray>>);

impl Buffers {
    /// A one-dimensional buffer of `len` elements of `dtype` that no one else uses.
    fn take(&self, dtype: DType, len: usize) -> Result<NDArray> {
        let mut kept = self.0.lock();
        let free = kept
            .iter()
            .position(|b| b.dtype() == dtype && b.size() >= len && b.is_sole_view());
        let buffer = match free {
            Some(i) => kept.swap_remove(i),
            None => NDArray::new(Shape(vec![len as i64]), dtype, Context::cpu(0))?,
        };
        if kept.len() >= KEPT_BUFFERS {
            let smallest = (0..kept.len()).min_by_key(|&i| kept[i].capacity());
            kept.swap_remove(smallest.expect("a full list"));
        }
        kept.push(buffer.clone());
        buffer.slice(0, len)
    }
}

/// The keys summed in one element type: where each starts in the buffers.
struct Group {
    dtype: DType,
    prim: Prim,
    /// (index in the call, first element)
    keys: Vec<(usize, usize)>,
    len: usize,
}

/// The array a group of one key pushed as one dense array of the group's element type:
/// it is sent from its own memory.
fn sole_source(g: &Group, merged: &[Option<Merged<'_>>]) -> Option<NDArray> {
    let [(i, _)] = g.keys[..] else {
        return None;
    };
    match &merged[i] {
        Some(Merged::Sources {
            sources: [only], ..
        }) if only.dtype() == g.dtype && !only.is_sparse() && only.size() == g.len => {
            Some((*only).clone())
        }
        _ => None,
    }
}

/// Each key's sum over the workers of their merged values, in the order given (keys of
/// one shape and dtype on every worker, pushed in the same order). Every value is summed
/// into the send buffers before anything is sent.
pub fn sum_over_workers(
    net: &Net,
    name: &str,
    pushes: Vec<KeyPush<'_>>,
    buffers: &Buffers,
) -> Result<Vec<NDArray>> {
    let comm = net
        .workers
        .as_ref()
        .expect("a worker has the workers' group");
    let stored: Vec<NDArray> = pushes.iter().map(|p| p.entry.stored()).collect();
    let mut groups: BTreeMap<u8, Group> = BTreeMap::new();
    for (i, s) in stored.iter().enumerate() {
        let (prim, dtype) = prim(s.dtype());
        let g = groups.entry(dtype.code() as u8).or_insert(Group {
            dtype,
            prim,
            keys: Vec::new(),
            len: 0,
        });
        g.keys.push((i, g.len));
        g.len += s.size();
    }
    let place = |buffer: &NDArray, at: usize, like: &NDArray| -> Result<NDArray> {
        buffer
            .slice(at, at + like.size())?
            .reshape(&like.shape().0, false)
    };
    let mut sends = Vec::with_capacity(groups.len());
    let mut merged: Vec<_> = pushes.into_iter().map(|p| Some(p.merged)).collect();
    for g in groups.values() {
        if let Some(only) = sole_source(g, &merged) {
            sends.push(only);
            continue;
        }
        let send = buffers.take(g.dtype, g.len)?;
        for &(i, at) in &g.keys {
            let value = merged[i].take().expect("each key once");
            if stored[i].size() > 0 {
                value.assign_to(&place(&send, at, &stored[i])?)?;
            }
        }
        sends.push(send);
    }
    let mut started: Vec<(NDArray, Request)> = Vec::with_capacity(groups.len());
    for (g, send) in groups.values().zip(&sends) {
        let recv = buffers.take(g.dtype, g.len)?;
        let req = comm.allreduce_sum(send, &recv, g.prim)?;
        started.push((recv, req));
    }
    let deadline = Instant::now() + timeout();
    let mut sums: Vec<Option<NDArray>> = vec![None; stored.len()];
    for (g, (recv, mut req)) in groups.values().zip(started) {
        if !net.complete(&mut req, deadline)? {
            return Err(lost_peer(format!(
                "{name}: the allreduce of {} keys did not complete within {:?} \
                 (MXKV_DIST_TIMEOUT): a worker {NOT_ANSWERING}",
                stored.len(),
                timeout()
            )));
        }
        for &(i, at) in &g.keys {
            let s = &stored[i];
            sums[i] = Some(match s.size() {
                0 => s.like()?,
                _ if s.dtype() == g.dtype => place(&recv, at, s)?,
                _ => {
                    let sum = s.like()?;
                    sum.assign_sum(&[&place(&recv, at, s)?])?;
                    sum
                }
            });
        }
    }
    Ok(sums
        .into_iter()
        .map(|s| s.expect("every key summed"))
        .collect())
}
