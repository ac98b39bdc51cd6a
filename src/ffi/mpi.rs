//! The MPI calls of the distributed engine, behind a safe interface.
//!
//! Everything here is nonblocking: a send, a receive, a barrier or an allreduce is a
//! [`Request`] that owns its buffers and is completed by polling [`Request::test`], so the
//! engine can put a deadline on every wait and yield the core while it waits (three ranks
//! share two cores on a small machine; MPI's own blocking waits spin). Calls are
//! serialised by one lock, which is what `MPI_THREAD_SERIALIZED` asks of the caller:
//! store calls may come from any thread.

use std::ffi::{c_int, c_void, CStr};
use std::ops::Range;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mpi::ffi as sys;
use parking_lot::{Mutex, MutexGuard};

use super::shared_memory::Window;
use crate::error::{Error, Result};
use crate::ndarray::NDArray;

/// Serialises every MPI call of the process made by mxkv.
static CALLS: Mutex<()> = Mutex::new(());

/// Set, under `CALLS`, once mxkv has finalized MPI at exit: a thread still running (the
/// heartbeat) then gets an error instead of calling MPI after `MPI_Finalize`.
static FINALIZED: AtomicBool = AtomicBool::new(false);

/// The right to make one MPI call, while MPI is still up: neither mxkv at exit nor the
/// program (which may have started MPI itself) has finalized it.
fn lock() -> Result<MutexGuard<'static, ()>> {
    let guard = CALLS.lock();
    let mut finalized = 0;
    // SAFETY: MPI_Finalized may be called at any time, before MPI_Init and after
    // MPI_Finalize; it only writes the flag.
    let asked = unsafe { sys::MPI_Finalized(&mut finalized) };
    if FINALIZED.load(Ordering::Relaxed) || asked != 0 || finalized != 0 {
        return Err(Error::Dist("MPI was finalized".into()));
    }
    Ok(guard)
}

fn check(code: c_int, what: &str) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(Error::Dist(format!(
            "{what} failed with MPI error code {code}"
        )))
    }
}

/// The element types an allreduce sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prim {
    F32,
    F64,
    I32,
    I64,
    I8,
    U8,
}

fn datatype(p: Prim) -> sys::MPI_Datatype {
    // SAFETY: the RSMPI_* constants are initialised by the MPI library before main.
    unsafe {
        match p {
            Prim::F32 => sys::RSMPI_FLOAT,
            Prim::F64 => sys::RSMPI_DOUBLE,
            Prim::I32 => sys::RSMPI_INT32_T,
            Prim::I64 => sys::RSMPI_INT64_T,
            Prim::I8 => sys::RSMPI_INT8_T,
            Prim::U8 => sys::RSMPI_UINT8_T,
        }
    }
}

/// Starts MPI if the program has not (asking for `MPI_THREAD_SERIALIZED`), and arranges
/// `MPI_Finalize` at exit when mxkv started it. Returns false when MPI was already
/// finalized and cannot be used again.
pub fn init() -> Result<bool> {
    let _g = CALLS.lock();
    let (mut inited, mut finalized) = (0, 0);
    // SAFETY: both calls only write the flag; they are allowed before MPI_Init.
    unsafe {
        check(sys::MPI_Finalized(&mut finalized), "MPI_Finalized")?;
        if finalized != 0 {
            return Ok(false);
        }
        check(sys::MPI_Initialized(&mut inited), "MPI_Initialized")?;
        if inited == 0 {
            let mut provided = 0;
            check(
                sys::MPI_Init_thread(
                    ptr::null_mut(),
                    ptr::null_mut(),
                    sys::RSMPI_THREAD_SERIALIZED,
                    &mut provided,
                ),
                "MPI_Init_thread",
            )?;
            atexit(finalize_at_exit);
            STARTED.store(true, Ordering::Relaxed);
        }
        prefer_reduce_scatter_allgather();
    }
    Ok(true)
}

/// Open MPI's name for the algorithm of its nonblocking allreduce (libnbc), and the value
/// of Rabenseifner's (reduce-scatter, then allgather).
const IALLREDUCE_ALGORITHM: &CStr = c"coll_libnbc_iallreduce_algorithm";
const RABENSEIFNER: c_int = 3;

/// For fewer than 4 ranks Open MPI's nonblocking allreduce picks a binomial tree, which
/// moves every byte twice, one way after the other, and gains nothing in place: measured
/// here on 4 MB between 2 ranks, summed in place it took 1.3–1.5× the blocking
/// `MPI_Allreduce` in place (out of place, about as long as the blocking one); with
/// Rabenseifner's algorithm it matches the blocking one in place. Selects it through the MPI tool interface
/// (for the whole process), unless the user chose one
/// (`OMPI_MCA_coll_libnbc_iallreduce_algorithm`); an MPI without this variable is left as
/// it is. Open MPI falls back to its binomial tree where the algorithm does not apply.
fn prefer_reduce_scatter_allgather() {
    if std::env::var_os("OMPI_MCA_coll_libnbc_iallreduce_algorithm").is_some() {
        return;
    }
    let (mut provided, mut index, mut count) = (0, 0, 0);
    let mut handle: sys::MPI_T_cvar_handle = ptr::null_mut();
    // SAFETY: every out-pointer is a local; the name is NUL-terminated; the value written is
    // one int, the variable's type (count 1, no object bound). The tool interface stays
    // initialised (finalizing it could tear down what MPI itself uses).
    unsafe {
        if sys::MPI_T_init_thread(sys::RSMPI_THREAD_SERIALIZED, &mut provided) != 0
            || sys::MPI_T_cvar_get_index(IALLREDUCE_ALGORITHM.as_ptr(), &mut index) != 0
            || sys::MPI_T_cvar_handle_alloc(index, ptr::null_mut(), &mut handle, &mut count) != 0
        {
            return;
        }
        if count == 1 {
            sys::MPI_T_cvar_write(handle, (&RABENSEIFNER as *const c_int).cast());
        }
        sys::MPI_T_cvar_handle_free(&mut handle);
    }
}

/// Set when mxkv started MPI (and so finalizes it at exit).
static STARTED: AtomicBool = AtomicBool::new(false);

/// Whether a thread of mxkv's own may make MPI calls in the background: only when mxkv
/// started MPI and got `MPI_THREAD_SERIALIZED` (its calls are then serialised with every
/// other mxkv call, and fail once mxkv has finalized MPI at exit) — never in a program that
/// started MPI itself and finalizes it when it likes.
pub fn background_calls_allowed() -> Result<bool> {
    let _g = lock()?;
    if !STARTED.load(Ordering::Relaxed) {
        return Ok(false);
    }
    let mut provided = 0;
    // SAFETY: the call only writes the local.
    check(
        unsafe { sys::MPI_Query_thread(&mut provided) },
        "MPI_Query_thread",
    )?;
    Ok(provided >= unsafe { sys::RSMPI_THREAD_SERIALIZED })
}

extern "C" {
    fn atexit(f: extern "C" fn()) -> c_int;
    fn _exit(status: c_int) -> !;
}

/// Milliseconds `MPI_Finalize` may wait at exit once a peer of this process has failed or
/// stopped answering (0: no peer lost, no limit).
static FINALIZE_LIMIT_MS: AtomicU64 = AtomicU64::new(0);

/// Notes that a peer has failed or stopped answering. `MPI_Finalize` waits for every rank
/// of the job, and a dead one never comes: at exit, if finalizing takes longer than
/// `patience`, this process ends with status 1 instead of hanging.
pub fn peer_lost(patience: Duration) {
    let ms = u64::try_from(patience.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    FINALIZE_LIMIT_MS.store(ms, Ordering::Relaxed);
}

extern "C" fn finalize_at_exit() {
    let _g = CALLS.lock();
    FINALIZED.store(true, Ordering::Relaxed);
    let limit = FINALIZE_LIMIT_MS.load(Ordering::Relaxed);
    if limit != 0 {
        let watchdog = std::thread::Builder::new().spawn(move || {
            std::thread::sleep(Duration::from_millis(limit));
            // SAFETY: ends the process at once, as exit would have after MPI_Finalize.
            unsafe { _exit(1) }
        });
        if watchdog.is_err() {
            return; // No watchdog: skipping the finalize is what cannot hang.
        }
    }
    let mut finalized = 0;
    // SAFETY: MPI was initialised by `init`; finalising twice is avoided by the check.
    unsafe {
        if sys::MPI_Finalized(&mut finalized) == 0 && finalized == 0 {
            sys::MPI_Finalize();
        }
    }
}

/// A communicator of mxkv's own (errors are returned, never fatal).
pub struct Comm {
    raw: sys::MPI_Comm,
    rank: i32,
    size: i32,
}

// SAFETY: a communicator handle may be used from any thread; calls are serialised by CALLS.
unsafe impl Send for Comm {}
unsafe impl Sync for Comm {}

impl Comm {
    /// Starts duplicating `MPI_COMM_WORLD`: the request completes once every rank has
    /// started the same duplication; [`Comm::from_dup`] then gives the communicator.
    pub fn start_world_dup() -> Result<DupRequest> {
        let _g = lock()?;
        // Leaked on purpose: MPI writes the handle whenever the duplication completes, which
        // a failed wait never sees (one handle per process).
        let dup: &'static mut sys::MPI_Comm = Box::leak(Box::new(unsafe { sys::RSMPI_COMM_NULL }));
        let mut req = unsafe { sys::RSMPI_REQUEST_NULL };
        // SAFETY: the new handle is written into the leaked cell, which never goes away.
        check(
            unsafe { sys::MPI_Comm_idup(sys::RSMPI_COMM_WORLD, &mut *dup, &mut req) },
            "MPI_Comm_idup",
        )?;
        Ok(DupRequest {
            request: Request::collective(req, Vec::new(), Bytes::zeroed(0)),
            dup,
        })
    }

    fn wrap(raw: sys::MPI_Comm) -> Result<Comm> {
        let (mut rank, mut size) = (0, 0);
        // SAFETY: raw is a valid communicator.
        unsafe {
            check(
                sys::MPI_Comm_set_errhandler(raw, sys::RSMPI_ERRORS_RETURN),
                "MPI_Comm_set_errhandler",
            )?;
            check(sys::MPI_Comm_rank(raw, &mut rank), "MPI_Comm_rank")?;
            check(sys::MPI_Comm_size(raw, &mut size), "MPI_Comm_size")?;
        }
        Ok(Comm { raw, rank, size })
    }

    pub fn rank(&self) -> i32 {
        self.rank
    }

    pub fn size(&self) -> i32 {
        self.size
    }

    /// The communicator of the ranks `first..first + count` of this one. Collective over
    /// those ranks only; the others must not call it.
    pub fn subgroup(&self, first: i32, count: i32) -> Result<Comm> {
        let _g = lock()?;
        let ranks: Vec<c_int> = (first..first + count).collect();
        let (mut group, mut sub_group) = unsafe { (sys::RSMPI_GROUP_NULL, sys::RSMPI_GROUP_NULL) };
        let mut sub = unsafe { sys::RSMPI_COMM_NULL };
        // SAFETY: every out-pointer is a local; `ranks` outlives the call.
        unsafe {
            check(sys::MPI_Comm_group(self.raw, &mut group), "MPI_Comm_group")?;
            check(
                sys::MPI_Group_incl(group, count, ranks.as_ptr(), &mut sub_group),
                "MPI_Group_incl",
            )?;
            check(
                sys::MPI_Comm_create_group(self.raw, sub_group, 1, &mut sub),
                "MPI_Comm_create_group",
            )?;
            sys::MPI_Group_free(&mut sub_group);
            sys::MPI_Group_free(&mut group);
        }
        Comm::wrap(sub)
    }

    /// The ranks of this communicator that share memory with this one (one node), as a
    /// communicator. Blocking and collective: only for when every rank is known to be there.
    pub fn node(&self) -> Result<Comm> {
        let _g = lock()?;
        let mut node = unsafe { sys::RSMPI_COMM_NULL };
        // SAFETY: the out-pointer is a local.
        check(
            unsafe {
                sys::MPI_Comm_split_type(
                    self.raw,
                    sys::RSMPI_COMM_TYPE_SHARED,
                    self.rank,
                    sys::RSMPI_INFO_NULL,
                    &mut node,
                )
            },
            "MPI_Comm_split_type",
        )?;
        drop(_g);
        Comm::wrap(node)
    }

    /// Whether every rank of this communicator says `yes`: a gather of one flag each,
    /// waited for by `wait` (which polls the request until a deadline).
    pub fn all_say(
        &self,
        yes: bool,
        wait: impl FnOnce(&mut Request) -> Result<bool>,
    ) -> Result<bool> {
        let ones = vec![1i64; self.size as usize];
        let mut req = self.allgather_i64(&[yes as i64], &ones)?;
        if !wait(&mut req)? {
            return Err(Error::Dist(
                "not every rank answered whether it could share memory".into(),
            ));
        }
        let said: &[i64] = bytemuck::cast_slice(&req.target);
        Ok(said.iter().all(|&y| y == 1))
    }

    /// A window of memory shared by every rank of this communicator (whose ranks share one
    /// node), to which this rank gives `bytes` (ranks may give different amounts): `None`
    /// unless rank r's part holds `wanted(r)` bytes from a page boundary within it. Blocking
    /// and collective, as [`Comm::node`]. The memory lasts as long as the process (the
    /// window is never freed: freeing it is collective, and would wait for a failed peer).
    pub fn shared_window(
        &self,
        bytes: usize,
        wanted: impl Fn(usize) -> usize,
    ) -> Result<Option<Window>> {
        Ok(Window::new(self.shared_memory(bytes)?, wanted))
    }

    /// Where every rank's part of a new shared window is and its size, in rank order.
    fn shared_memory(&self, bytes: usize) -> Result<Vec<(usize, usize)>> {
        let _g = lock()?;
        let mut base: *mut c_void = ptr::null_mut();
        let mut win = unsafe { sys::RSMPI_WIN_NULL };
        let size = sys::MPI_Aint::try_from(bytes)
            .map_err(|_| Error::Dist(format!("{bytes} bytes of shared memory are too many")))?;
        // SAFETY: the out-pointers are locals; MPI allocates the memory.
        check(
            unsafe {
                sys::MPI_Win_allocate_shared(
                    size,
                    1,
                    sys::RSMPI_INFO_NULL,
                    self.raw,
                    (&mut base as *mut *mut c_void).cast(),
                    &mut win,
                )
            },
            "MPI_Win_allocate_shared",
        )?;
        (0..self.size)
            .map(|rank| {
                let (mut len, mut unit) = (0 as sys::MPI_Aint, 0 as c_int);
                let mut at: *mut c_void = ptr::null_mut();
                // SAFETY: win is the window just made; the out-pointers are locals.
                check(
                    unsafe {
                        sys::MPI_Win_shared_query(
                            win,
                            rank,
                            &mut len,
                            &mut unit,
                            (&mut at as *mut *mut c_void).cast(),
                        )
                    },
                    "MPI_Win_shared_query",
                )?;
                Ok(match at.is_null() {
                    true => (0, 0),
                    false => (at as usize, len as usize),
                })
            })
            .collect()
    }

    /// Sends `data` to rank `dest` with `tag`.
    pub fn send(&self, dest: i32, tag: i32, data: Vec<u8>) -> Result<Request> {
        // SAFETY: the buffer moves into the request, which keeps it until MPI is done with it
        // (moving a Vec does not move its heap memory).
        let req = unsafe {
            self.start(
                Transfer::Send,
                data.as_ptr() as usize,
                data.len(),
                dest,
                tag,
            )?
        };
        Ok(Request::new(req, data, Bytes::zeroed(0)))
    }

    /// Sends the bytes `bytes` of `array`'s memory to rank `dest` with `tag`, as they are:
    /// no copy. The request keeps the array alive until MPI is done with it; the caller
    /// does not change those bytes meanwhile.
    pub fn send_array(&self, dest: i32, tag: i32, bytes: ArrayBytes) -> Result<Request> {
        // SAFETY: the bytes lie within the array's memory (checked by `ArrayBytes::new`),
        // which the request holds (and leaks, if given up) until MPI is done with them.
        let req = unsafe { self.start(Transfer::Send, bytes.at, bytes.len, dest, tag)? };
        let mut request = Request::new(req, Vec::new(), Bytes::zeroed(0));
        request.arrays = vec![bytes.array];
        Ok(request)
    }

    /// Receives the next message from rank `source` with `tag` into the bytes `bytes` of
    /// `array`'s memory: no copy. The message must have exactly that many bytes (the
    /// request fails otherwise). The request keeps the array alive until MPI is done with
    /// it; nothing else may touch those bytes until it completes.
    pub fn receive_array(&self, source: i32, tag: i32, bytes: ArrayBytes) -> Result<Request> {
        // SAFETY: as in `send_array`; MPI writes at most `bytes.len` bytes.
        let req = unsafe { self.start(Transfer::Receive, bytes.at, bytes.len, source, tag)? };
        let mut request = Request::new(req, Vec::new(), Bytes::zeroed(0));
        request.expected = Some(bytes.len);
        request.arrays = vec![bytes.array];
        Ok(request)
    }

    /// Starts sending the `len` bytes at address `at` to `peer`, or receiving into them
    /// from `peer`, with `tag`.
    ///
    /// # Safety
    /// The bytes stay allocated (and, for a send, unchanged) until the request completes.
    unsafe fn start(
        &self,
        transfer: Transfer,
        at: usize,
        len: usize,
        peer: i32,
        tag: i32,
    ) -> Result<sys::MPI_Request> {
        let len = count(len)?;
        let _g = lock()?;
        let mut req = sys::RSMPI_REQUEST_NULL;
        let (u8s, comm, at_mut) = (sys::RSMPI_UINT8_T, self.raw, at as *mut c_void);
        let (code, what) = match transfer {
            Transfer::Send => (
                sys::MPI_Isend(at_mut, len, u8s, peer, tag, comm, &mut req),
                "MPI_Isend",
            ),
            Transfer::Receive => (
                sys::MPI_Irecv(at_mut, len, u8s, peer, tag, comm, &mut req),
                "MPI_Irecv",
            ),
        };
        check(code, what)?;
        Ok(req)
    }

    /// A message that has arrived from `source` (any when None) with `tag` (any when
    /// None), if there is one; it is then this caller's to receive.
    pub fn probe(&self, source: Option<i32>, tag: Option<i32>) -> Result<Option<Incoming>> {
        let _g = lock()?;
        let (mut flag, mut message) = (0, unsafe { sys::RSMPI_MESSAGE_NULL });
        let mut status = empty_status();
        // SAFETY: every out-pointer is a local.
        unsafe {
            check(
                sys::MPI_Improbe(
                    source.unwrap_or(sys::RSMPI_ANY_SOURCE),
                    tag.unwrap_or(sys::RSMPI_ANY_TAG),
                    self.raw,
                    &mut flag,
                    &mut message,
                    &mut status,
                ),
                "MPI_Improbe",
            )?;
            if flag == 0 {
                return Ok(None);
            }
            let mut len = 0;
            check(
                sys::MPI_Get_count(&status, sys::RSMPI_UINT8_T, &mut len),
                "MPI_Get_count",
            )?;
            Ok(Some(Incoming {
                message,
                source: status.MPI_SOURCE,
                tag: status.MPI_TAG,
                len: len as usize,
            }))
        }
    }

    /// Starts a barrier over this communicator.
    pub fn barrier(&self) -> Result<Request> {
        let _g = lock()?;
        let mut req = unsafe { sys::RSMPI_REQUEST_NULL };
        // SAFETY: the request is a local handed to the wrapper.
        check(
            unsafe { sys::MPI_Ibarrier(self.raw, &mut req) },
            "MPI_Ibarrier",
        )?;
        Ok(Request::collective(req, Vec::new(), Bytes::zeroed(0)))
    }

    /// Starts gathering `mine` from every rank of this communicator, rank after rank:
    /// `counts[r]` values from rank r (its own count in `counts[rank]`). The request's
    /// bytes are then the gathered values.
    pub fn allgather_i64(&self, mine: &[i64], counts: &[i64]) -> Result<Request> {
        let n = |c: i64| {
            c_int::try_from(c).map_err(|_| Error::Dist(format!("{c} values are too many for MPI")))
        };
        let lens = counts
            .iter()
            .map(|&c| n(c))
            .collect::<Result<Vec<c_int>>>()?;
        let mut at: c_int = 0;
        let mut displs = Vec::with_capacity(lens.len());
        for &len in &lens {
            displs.push(at);
            at = at
                .checked_add(len)
                .ok_or_else(|| Error::Dist("a gather too large for MPI".into()))?;
        }
        let source: Vec<u8> = bytemuck::cast_slice(mine).to_vec();
        let mut target = Bytes::zeroed(at as usize * 8);
        let mut counts: Vec<c_int> = lens;
        counts.extend(displs);
        let _g = lock()?;
        let mut req = unsafe { sys::RSMPI_REQUEST_NULL };
        let size = self.size as usize;
        // SAFETY: the buffers and the counts move into the request, which keeps them until
        // MPI is done with them (and leaks them if given up).
        check(
            unsafe {
                sys::MPI_Iallgatherv(
                    source.as_ptr().cast(),
                    count(mine.len())?,
                    sys::RSMPI_INT64_T,
                    target.words.as_mut_ptr().cast(),
                    counts.as_ptr(),
                    counts[size..].as_ptr(),
                    sys::RSMPI_INT64_T,
                    self.raw,
                    &mut req,
                )
            },
            "MPI_Iallgatherv",
        )?;
        let mut request = Request::collective(req, source, target);
        request.counts = counts;
        Ok(request)
    }

    /// Starts an allreduce (sum) from `send`'s memory straight into `recv`'s: arrays of
    /// the same element count, elements of `prim`. The request keeps both arrays alive;
    /// nothing else may write `recv` until it completes.
    pub fn allreduce_sum(&self, send: &NDArray, recv: &NDArray, prim: Prim) -> Result<Request> {
        self.start_allreduce(Some(send), recv, prim)
    }

    /// Starts an allreduce (sum) of `data` into itself (`MPI_IN_PLACE`: MPI copies nothing
    /// in first), where [`can_allreduce_in_place`]. The request keeps the array alive; nothing else may touch it until it
    /// completes.
    pub fn allreduce_in_place(&self, data: &NDArray, prim: Prim) -> Result<Request> {
        self.start_allreduce(None, data, prim)
    }

    fn start_allreduce(
        &self,
        send: Option<&NDArray>,
        recv: &NDArray,
        prim: Prim,
    ) -> Result<Request> {
        let address = |a: &NDArray| {
            a.data_addr()
                .ok_or_else(|| Error::Dist("an allreduce of an array without data".into()))
        };
        let into = address(recv)?;
        let from = match send {
            Some(send) => address(send)? as *const c_void,
            None => in_place_marker().ok_or_else(|| {
                Error::Dist("this build does not know the MPI library's MPI_IN_PLACE".into())
            })?,
        };
        let _g = lock()?;
        let mut req = unsafe { sys::RSMPI_REQUEST_NULL };
        // SAFETY: both addresses are the data of arrays of `recv.size()` elements (or the
        // in-place marker), which the request holds (and leaks, if given up) until MPI is
        // done with them.
        check(
            unsafe {
                sys::MPI_Iallreduce(
                    from,
                    into as *mut c_void,
                    count(recv.size())?,
                    datatype(prim),
                    sys::RSMPI_SUM,
                    self.raw,
                    &mut req,
                )
            },
            "MPI_Iallreduce",
        )?;
        let mut request = Request::collective(req, Vec::new(), Bytes::zeroed(0));
        request.arrays = send.into_iter().chain([recv]).cloned().collect();
        Ok(request)
    }
}

/// `MPI_IN_PLACE` as the MPI library's header defines it (a C macro, which the `mpi` crate
/// does not carry), read by `build.rs`; `None` when the build could not read it.
fn in_place_marker() -> Option<*const c_void> {
    let marker: isize = option_env!("MXKV_MPI_IN_PLACE")?.parse().ok()?;
    Some(marker as *const c_void)
}

/// Bytes free where MPI keeps memory that ranks of one node share (`/dev/shm` on Linux,
/// which a container may keep small: a page touched past its end kills the process). `None`
/// when it cannot be told.
pub fn shared_memory_room() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    {
        #[repr(C)]
        struct StatVfs {
            bsize: u64,
            frsize: u64,
            blocks: u64,
            bfree: u64,
            bavail: u64,
            files: u64,
            ffree: u64,
            favail: u64,
            fsid: u64,
            flag: u64,
            namemax: u64,
            spare: [i32; 6],
        }
        extern "C" {
            fn statvfs(path: *const std::ffi::c_char, buf: *mut StatVfs) -> c_int;
        }
        // SAFETY: the path is a NUL-terminated constant; the buffer is a local of the size
        // of glibc's `struct statvfs` on 64-bit Linux.
        let mut st: StatVfs = unsafe { std::mem::zeroed() };
        let done = unsafe { statvfs(c"/dev/shm".as_ptr(), &mut st) };
        if done == 0 {
            return Some(st.bavail.saturating_mul(st.frsize));
        }
    }
    None
}

/// Whether [`Comm::allreduce_in_place`] works in this build.
pub fn can_allreduce_in_place() -> bool {
    in_place_marker().is_some()
}

/// Some bytes of a dense array's memory, for a message sent from them or received into
/// them. Their address is found when this is made: a message may then be received into
/// them while the caller holds the array's write lock.
pub struct ArrayBytes {
    array: NDArray,
    at: usize,
    len: usize,
}

impl ArrayBytes {
    /// The bytes `bytes` of `array`'s value.
    pub fn new(array: &NDArray, bytes: Range<usize>) -> Result<ArrayBytes> {
        if bytes.start > bytes.end || bytes.end > array.nbytes() {
            return Err(Error::Dist(format!(
                "bytes {bytes:?} are not within an array of {} bytes",
                array.nbytes()
            )));
        }
        let base = array
            .data_addr()
            .filter(|_| !array.is_sparse())
            .ok_or_else(|| {
                Error::Dist("a message from or into an array without dense data".into())
            })?;
        Ok(ArrayBytes {
            array: array.clone(),
            at: base + bytes.start,
            len: bytes.len(),
        })
    }
}

/// Which way a point-to-point transfer goes.
enum Transfer {
    Send,
    Receive,
}

fn count(n: usize) -> Result<c_int> {
    c_int::try_from(n)
        .map_err(|_| Error::Dist(format!("a message of {n} items is too large for MPI")))
}

fn empty_status() -> sys::MPI_Status {
    // SAFETY: MPI_Status is plain integers; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// A probed message, not yet received.
pub struct Incoming {
    message: sys::MPI_Message,
    pub source: i32,
    pub tag: i32,
    pub len: usize,
}

// SAFETY: the message handle belongs to whoever probed it; calls are serialised.
unsafe impl Send for Incoming {}

impl Incoming {
    /// Starts receiving the message into `buf` (a buffer used before, or
    /// `Bytes::default()`), which grows to the message's length; its bytes are the
    /// request's buffer once it completes.
    pub fn receive(self, buf: Bytes) -> Result<Request> {
        let _g = lock()?;
        let mut buf = buf.resized(self.len);
        let mut message = self.message;
        let mut req = unsafe { sys::RSMPI_REQUEST_NULL };
        // SAFETY: the buffer moves into the request and lives until it completes.
        check(
            unsafe {
                sys::MPI_Imrecv(
                    buf.words.as_mut_ptr().cast(),
                    count(self.len)?,
                    sys::RSMPI_UINT8_T,
                    &mut message,
                    &mut req,
                )
            },
            "MPI_Imrecv",
        )?;
        Ok(Request::new(req, Vec::new(), buf))
    }
}

/// Received bytes, 8-byte aligned so that values in them can be read as their elements.
pub struct Bytes {
    words: Vec<u64>,
    len: usize,
}

impl Bytes {
    fn zeroed(len: usize) -> Bytes {
        Bytes {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }

    /// These bytes' memory holding `len` bytes (grown when it is too small); the bytes
    /// kept are whatever was there.
    fn resized(mut self, len: usize) -> Bytes {
        self.words.resize(self.words.len().max(len.div_ceil(8)), 0);
        self.len = len;
        self
    }

    /// Bytes of memory it has.
    pub fn capacity(&self) -> usize {
        self.words.len() * 8
    }
}

impl Default for Bytes {
    fn default() -> Bytes {
        Bytes::zeroed(0)
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
}

/// A nonblocking operation in flight, with the buffers MPI reads and writes.
pub struct Request {
    raw: sys::MPI_Request,
    done: bool,
    /// Point-to-point requests can be cancelled; collective ones cannot (MPI 3.1 §5.12).
    cancellable: bool,
    source: Vec<u8>,
    target: Bytes,
    /// Arrays whose memory MPI reads or writes.
    arrays: Vec<NDArray>,
    /// Counts and displacements MPI reads (a gather of different lengths).
    counts: Vec<c_int>,
    /// The bytes a receive into an array must bring.
    expected: Option<usize>,
}

// SAFETY: the request handle may be tested from any thread; calls are serialised.
unsafe impl Send for Request {}

impl Request {
    fn new(raw: sys::MPI_Request, source: Vec<u8>, target: Bytes) -> Request {
        Request {
            raw,
            done: false,
            cancellable: true,
            source,
            target,
            arrays: Vec::new(),
            counts: Vec::new(),
            expected: None,
        }
    }

    fn collective(raw: sys::MPI_Request, source: Vec<u8>, target: Bytes) -> Request {
        Request {
            raw,
            done: false,
            cancellable: false,
            source,
            target,
            arrays: Vec::new(),
            counts: Vec::new(),
            expected: None,
        }
    }

    /// Whether the operation has completed.
    pub fn test(&mut self) -> Result<bool> {
        if self.done {
            return Ok(true);
        }
        let _g = lock()?;
        let mut flag = 0;
        let mut status = empty_status();
        // SAFETY: raw is this request's live handle; MPI_Test frees it on completion.
        let tested = check(
            unsafe { sys::MPI_Test(&mut self.raw, &mut flag, &mut status) },
            "MPI_Test",
        );
        // A request that failed (a message longer than its buffer) is freed by MPI.
        self.done =
            flag != 0 || (tested.is_err() && self.raw == unsafe { sys::RSMPI_REQUEST_NULL });
        tested?;
        if let (true, Some(expected)) = (self.done, self.expected) {
            let mut len = 0;
            // SAFETY: the status is the completed receive's.
            check(
                unsafe { sys::MPI_Get_count(&status, sys::RSMPI_UINT8_T, &mut len) },
                "MPI_Get_count",
            )?;
            if len as usize != expected {
                return Err(Error::Dist(format!(
                    "a message of {len} bytes came where {expected} were expected"
                )));
            }
        }
        Ok(self.done)
    }

    /// Whether MPI reads or writes `array`'s memory for this request.
    pub fn uses(&self, array: &NDArray) -> bool {
        let span = |a: &NDArray| a.data_addr().map(|at| at..at + a.nbytes());
        let Some(theirs) = span(array) else {
            return false;
        };
        self.arrays
            .iter()
            .filter_map(span)
            .any(|mine| mine.start < theirs.end && theirs.start < mine.end)
    }

    /// The bytes a completed send sent, for another message.
    pub fn into_sent(mut self) -> Vec<u8> {
        debug_assert!(self.done);
        std::mem::take(&mut self.source)
    }

    /// The received (or reduced) bytes of a completed request.
    pub fn into_bytes(mut self) -> Bytes {
        debug_assert!(self.done);
        std::mem::replace(&mut self.target, Bytes::zeroed(0))
    }
}

impl Drop for Request {
    /// A request given up before completion (its peer failed): MPI may still touch the
    /// buffers, so they are left allocated rather than freed under it; a point-to-point
    /// request is cancelled, a collective one (which cannot be) is left as it is.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let (true, Ok(_g)) = (self.cancellable, lock()) {
            // SAFETY: raw is live; after MPI_Request_free MPI owns it, and the buffers leak.
            unsafe {
                sys::MPI_Cancel(&mut self.raw);
                sys::MPI_Request_free(&mut self.raw);
            }
        }
        std::mem::forget(std::mem::take(&mut self.source));
        std::mem::forget(std::mem::replace(&mut self.target, Bytes::zeroed(0)));
        std::mem::forget(std::mem::take(&mut self.arrays));
        std::mem::forget(std::mem::take(&mut self.counts));
    }
}

/// A duplication of the world communicator in progress.
pub struct DupRequest {
    pub request: Request,
    dup: &'static sys::MPI_Comm,
}

impl DupRequest {
    /// The duplicate, once `request` has completed.
    pub fn into_comm(self) -> Result<Comm> {
        Comm::wrap(*self.dup)
    }
}

#[cfg(test)]
mod tests {
    use super::shared_memory_room;

    /// The room read through `statvfs` is what `stat -f` reports (which checks the layout of
    /// the system's structure as declared here).
    #[test]
    #[cfg(target_os = "linux")]
    fn shared_memory_room_matches_stat() {
        let said = std::process::Command::new("stat")
            .args(["-f", "--format=%a %S", "/dev/shm"])
            .output()
            .expect("stat runs");
        let text = String::from_utf8(said.stdout).unwrap();
        let (blocks, size) = text.trim().split_once(' ').unwrap();
        let free = blocks.parse::<u64>().unwrap() * size.parse::<u64>().unwrap();
        let room = shared_memory_room().expect("/dev/shm can be asked");
        // Other processes may take or give back some pages meanwhile.
        assert!(
            room.abs_diff(free) <= 64 << 20,
            "statvfs {room}, stat {free}"
        );
        assert!(room > 0);
    }
}
