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

/// Replaces `value` by the sum of every worker's `value`. Types MPI cannot add (float16,
/// bfloat16 and the like) travel as float64.
pub fn sum_over_workers(net: &Net, name: &str, key: i32, value: &NDArray) -> Result<()> {
    let comm = net
        .workers
        .as_ref()
        .expect("a worker has the workers' group");
    let wide;
    let (array, prim) = match prim(value.dtype()) {
        Some(p) => (value, p),
        None => {
            wide = NDArray::new(value.shape().clone(), DType::F64, Context::cpu(0))?;
            wide.assign_sum(&[value])?;
            (&wide, Prim::F64)
        }
    };
    let mut req = comm.allreduce_sum(array.to_bytes()?, prim, array.size())?;
    if !net.complete(&mut req, Instant::now() + timeout())? {
        return Err(Error::Dist(format!(
            "{name}: the allreduce of key {key} did not complete within {:?} \
             (MXKV_DIST_TIMEOUT): a worker has failed or stopped answering",
            timeout()
        )));
    }
    let sum = req.into_bytes();
    array.write(|b| b.copy_from_slice(&sum))?;
    if !std::ptr::eq(array, value) {
        value.assign_sum(&[array])?;
    }
    Ok(())
}
