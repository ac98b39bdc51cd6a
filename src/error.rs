//! The one error type of mxkv. Its `Display` text is what `MXGetLastError` shows after
//! `MXNetError: `; the texts keep MXNet's key phrases (reference §3.11) so that code that
//! matches on them keeps working.
//!
//! This module sits below every other: it names no type of the body, so values such as
//! shapes arrive here already formatted.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A malformed argument: NULL where a value is needed, an out-of-range code, and so on.
    #[error("{0}")]
    InvalidArgument(String),

    /// `known` lists the codes and names (from `DType`, their one home).
    #[error("unknown dtype code {code} (known: {known})")]
    UnknownDType { code: i32, known: String },

    #[error("unknown storage type {0} (known: 0 default/dense, 1 row_sparse, 2 csr)")]
    UnknownStorage(i32),

    #[error(
        "{what}: the array has {stype} storage, and this needs a dense (default storage) array"
    )]
    NotDense {
        stype: &'static str,
        what: &'static str,
    },

    /// A sparse array whose blobs do not form a valid array (MXNet's format-check texts).
    #[error("{0}")]
    SparseFormat(String),

    #[error("invalid context: {0}")]
    InvalidContext(String),

    #[error("shape {shape} has too many elements: {detail}")]
    TooLarge { shape: String, detail: &'static str },

    #[error("out of memory: cannot allocate {0} bytes")]
    OutOfMemory(usize),

    #[error("Memory size do not match: the array has {expected} elements, the copy has {got}")]
    CopySize { expected: usize, got: usize },

    #[error("operands shape mismatch from.shape = {from} to.shape={to}")]
    ShapeMismatch { from: String, to: String },

    #[error("the array is empty (created with MXNDArrayCreateNone): {0}")]
    NoneArray(&'static str),

    #[error("duplicate init of key {0}. Please double check if you called kv.init or kv.broadcast with this key multiple times")]
    DuplicateInit(String),

    #[error("key {0} has not been inited")]
    NotInited(i32),

    #[error("key {0} doesn't exist. Did you init?")]
    UnknownKey(String),

    #[error("Check failed: key_type_ == key_type ({store} vs. {call}) : Mixed key types are not allowed: this store uses {store_name} keys, the call gave {call_name} keys")]
    MixedKeyTypes {
        store: i32,
        call: i32,
        store_name: &'static str,
        call_name: &'static str,
    },

    #[error(
        "compile with USE_NCCL=1 to use {0}: mxkv has no NCCL store; use a local or dist store"
    )]
    Nccl(String),

    #[error("cannot push key {0} from inside an updater now: its updater is running on another thread and waits for a key this thread holds, so waiting would deadlock")]
    WouldDeadlock(String),

    #[error("{0} needs the distributed engine, which this build of mxkv does not include: build the library with `make lib` on a machine with Open MPI's development files (apt-get install openmpi-bin libopenmpi-dev libclang-dev pkg-config), or with `cargo build --release --features dist`")]
    NoDist(String),

    /// A failure of the distributed engine: a peer lost or silent, a launch problem.
    #[error("{0}")]
    Dist(String),

    #[error("{0}")]
    GradientCompression(String),

    #[error("invalid .params data: {0}")]
    Format(String),

    #[error("I/O error on {path}: {detail}")]
    Io { path: String, detail: String },

    #[error("internal error (a bug in mxkv): {0}")]
    Panic(String),
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::InvalidArgument(msg.into())
    }
}

/// Bytes (a string key, a file name) as a message shows them: UTF-8 as it is, every other
/// byte as `\xNN`, so that a name that is not UTF-8 still reads as what it is.
pub fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}
