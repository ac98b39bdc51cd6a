//! Serverless `dist_sync` (spec §6, beyond MXNet): with `DMLC_NUM_SERVER=0` each push is
//! an allreduce among the workers, and every worker applies the sum itself, so all keep
//! identical replicas — Horovod's model behind MXNet's API.

use std::time::Instant;

use super::net::{timeout, Net};
use crate::error::{Error, Result};
use crate::ffi::mpi::Prim;
use crate::ndarray::{Context, DType, NDArray};

fn prim(dtype: DType) -> Option<Prim> {
    Some(match dtype {
        DType::F32 => Prim::F32,
        DType::F64 => Prim::F64,
        DType::I32 => Prim::I32,
        DType::I64 => Prim::I64,
        DType::I8 => Prim::I8,
        DType::U8 => Prim::U8,
        _ => return None,
    })
}

/// Makes `recv` the sum over the workers of their `send` (arrays of one shape and dtype;
/// `recv` is this caller's alone). Types MPI cannot add (float16, bfloat16 and the like)
/// travel as float64.
pub fn sum_over_workers(
    net: &Net,
    name: &str,
    key: i32,
    send: &NDArray,
    recv: &NDArray,
) -> Result<()> {
    let comm = net
        .workers
        .as_ref()
        .expect("a worker has the workers' group");
    let Some(prim) = prim(send.dtype()) else {
        let wide = |a: &NDArray| NDArray::new(a.shape().clone(), DType::F64, Context::cpu(0));
        let (wide_send, wide_recv) = (wide(send)?, wide(recv)?);
        wide_send.assign_sum(&[send])?;
        sum_over_workers(net, name, key, &wide_send, &wide_recv)?;
        return recv.assign_sum(&[&wide_recv]);
    };
    let mut req = comm.allreduce_sum(send, recv, prim)?;
    if net.complete(&mut req, Instant::now() + timeout())? {
        return Ok(());
    }
    Err(Error::Dist(format!(
        "{name}: the allreduce of key {key} did not complete within {:?} \
         (MXKV_DIST_TIMEOUT): a worker has failed or stopped answering",
        timeout()
    )))
}
