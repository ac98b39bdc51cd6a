//! The thread pool that large copies, sums and updates are split over: one per process.
//!
//! A child made by `fork()` has none of its parent's threads, so a pool inherited from the
//! parent would never run the work handed to it and the child would wait forever (Python's
//! `multiprocessing` and data loaders, and Perl's `fork`, do exactly this). The pool is
//! therefore tied to the process id: the first large job in a new process builds a fresh
//! pool, and the parent's is left alone (its threads live on in the parent).

use std::sync::Mutex;

use rayon::ThreadPool;

/// The pools built so far, each with the id of the process that built it; the last one is
/// the current process's when the ids match. Pools of parent processes are kept (not
/// dropped: that would signal threads that do not exist here), so their memory stays
/// reachable. The lock is held only to read or push, never while work runs.
static POOLS: Mutex<Vec<(u32, &'static ThreadPool)>> = Mutex::new(Vec::new());

/// This process's pool, built on first use. `None` when no thread can be started; callers
/// then do the work on their own thread.
pub fn pool() -> Option<&'static ThreadPool> {
    let pid = std::process::id();
    let mut pools = POOLS.lock().unwrap_or_else(|p| p.into_inner());
    match pools.last() {
        Some(&(owner, pool)) if owner == pid => Some(pool),
        _ => {
            let pool: &'static ThreadPool =
                Box::leak(Box::new(rayon::ThreadPoolBuilder::new().build().ok()?));
            pools.push((pid, pool));
            Some(pool)
        }
    }
}
