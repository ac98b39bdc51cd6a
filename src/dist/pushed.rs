//! One push as a server holds it until its round is summed: the values where the message
//! that brought them (or the sender's mailbox) has them, dequantised 2-bit words, or the
//! rows of a row_sparse push.

use std::ops::Range;
use std::rc::Rc;

use super::mailbox::Lease;
use crate::error::Result;
use crate::ffi::mpi::Bytes;
use crate::ndarray::kernels::Elems;
use crate::ndarray::{DType, NDArray, Storage};

/// Bytes of a received message, shared by the pushes it carried.
pub type Message = Rc<Bytes>;

/// One push of a round: its values where the message that brought them has them, or
/// dequantised from the 2-bit words it brought.
pub enum Pushed {
    InMessage(Message, Range<usize>),
    /// In the sender's mailbox (released once every push it holds is dropped).
    InMailbox(Rc<Lease>, Range<usize>),
    Dequantized(Vec<f32>),
    /// Some rows of a row_sparse push: their ids in the piece, and where their values are.
    Rows {
        ids: Vec<i64>,
        message: Message,
        values: Range<usize>,
    },
}

impl Pushed {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Pushed::InMessage(m, r) => &m[r.clone()],
            Pushed::InMailbox(lease, r) => lease.bytes(r.clone()),
            Pushed::Dequantized(values) => bytemuck::cast_slice(values),
            Pushed::Rows {
                message, values, ..
            } => &message[values.clone()],
        }
    }

    /// The push as an array shaped like `stored`: row_sparse for rows, dense otherwise.
    pub fn array(&self, stored: &NDArray, dtype: DType) -> Result<NDArray> {
        let bytes = Elems {
            bytes: self.bytes(),
            dtype,
        };
        let ctx = stored.context();
        let array = match self {
            Pushed::Rows { ids, .. } => {
                let empty = [(DType::I64, 0)];
                let a = NDArray::new_sparse(
                    Storage::RowSparse,
                    stored.shape().clone(),
                    dtype,
                    ctx,
                    &empty,
                )?;
                a.assign_rows(ids, bytes)?;
                a
            }
            _ => {
                let a = NDArray::new(stored.shape().clone(), dtype, ctx)?;
                a.write(|b| b.copy_from_slice(bytes.bytes))?;
                a
            }
        };
        Ok(array)
    }
}

/// The rows a piece of `stored` holds, and the length of a row.
pub fn rows_of(stored: &NDArray) -> (usize, usize) {
    let row_len = stored.shape().0[1..].iter().product::<i64>().max(1) as usize;
    (stored.size() / row_len, row_len)
}
