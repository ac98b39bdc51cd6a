//! Serverless row_sparse pushes: the workers first gather each other's row ids (how many,
//! then which), so that every worker knows the union of the pushed rows; then they
//! allreduce a buffer of only those rows, each worker's rows in their places and zeros
//! where it pushed none. Every worker gets the row_sparse sum over the union, as a local
//! store sums the row_sparse values of several devices (reference §3.4), having moved
//! the ids and the union's rows, never the whole value.

use std::time::Instant;

use super::allreduce::prim;
use super::net::{lost_peer, timeout, Net, NOT_ANSWERING};
use crate::error::Result;
use crate::ffi::mpi::Request;
use crate::ndarray::kernels::Elems;
use crate::ndarray::{rows, DType, NDArray, Shape, Storage};

/// The sum over the workers of their row_sparse `merged` values of `key`, as a
/// row_sparse array like `stored` (same shape and dtype on every worker).
pub fn sum_rows_over_workers(
    net: &Net,
    name: &str,
    key: i32,
    merged: &NDArray,
    stored: &NDArray,
) -> Result<NDArray> {
    let comm = net
        .workers
        .as_ref()
        .expect("a worker has the workers' group");
    let wait = |mut req: Request, what: &str| -> Result<Request> {
        if net.complete(&mut req, Instant::now() + timeout())? {
            return Ok(req);
        }
        Err(lost_peer(format!(
            "{name}: the {what} of row_sparse key {key} did not complete within {:?} \
             (MXKV_DIST_TIMEOUT): {} {NOT_ANSWERING}",
            timeout(),
            net.liveness.silent_worker(&net.layout)
        )))
    };
    let mine = merged.with_rows(|r| r.ids.to_vec())?;
    let ones = vec![1i64; comm.size() as usize];
    let counts = wait(
        comm.allgather_i64(&[mine.len() as i64], &ones)?,
        "gather of row counts",
    )?;
    let counts: Vec<i64> = bytemuck::cast_slice(&counts.into_bytes()).to_vec();
    let all = wait(comm.allgather_i64(&mine, &counts)?, "gather of row ids")?;
    let union = rows::unique(bytemuck::cast_slice(&all.into_bytes()).to_vec());

    let (prim, dtype) = prim(stored.dtype());
    let mut dims = stored.shape().0.clone();
    let nrows = dims[0];
    dims[0] = union.len() as i64;
    let send = NDArray::new(Shape(dims), dtype, stored.context())?;
    let recv = send.like()?;
    merged.with_rows(|r| send.write(|dst| rows::gather(&union, dst, dtype, r, nrows)))??;
    if send.size() > 0 {
        wait(comm.allreduce_sum(&send, &recv, prim)?, "allreduce")?;
    }
    let sum = NDArray::new_sparse(
        Storage::RowSparse,
        stored.shape().clone(),
        stored.dtype(),
        stored.context(),
        &[(DType::I64, 0)],
    )?;
    recv.read(|bytes| sum.assign_rows(&union, Elems { bytes, dtype }))??;
    Ok(sum)
}
