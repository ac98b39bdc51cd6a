//! Storage types (reference §2.1): how an array's elements are laid out.

use crate::error::{Error, Result};

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

    /// MXNet's storage type code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Aux arrays of the storage type: none for dense, the row ids for row_sparse, indptr
    /// and column ids for csr.
    pub fn num_aux(self) -> usize {
        match self {
            Storage::Dense => 0,
            Storage::RowSparse => 1,
            Storage::Csr => 2,
        }
    }

    /// MXNet's name of the storage type.
    pub fn name(self) -> &'static str {
        match self {
            Storage::Dense => "default",
            Storage::RowSparse => "row_sparse",
            Storage::Csr => "csr",
        }
    }
}
