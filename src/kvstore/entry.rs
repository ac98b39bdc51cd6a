//! One key's stored value and its lock, and how key locks stay deadlock-free while
//! updaters of different keys run at the same time.
//!
//! A key's lock serialises the pushes of that key and the pulls against them; an updater
//! runs under it, on the pushing thread, and may push or pull any key of any store, so a
//! thread may wait for a key lock while it holds others. Before it waits, it checks the
//! chain "this key's holder waits for a key whose holder waits for …": when the chain
//! comes back to this thread, waiting would deadlock, and [`Entry::lock`] returns `None`
//! instead (the caller fails a push, and copies a pulled value as it is). Only updaters
//! that push or pull each other's keys on two threads at the same moment meet this.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{const_mutex, Mutex, ReentrantMutex, ReentrantMutexGuard, RwLock};

use super::merge::Merged;
use crate::error::Result;
use crate::ndarray::NDArray;

/// One key's stored value. A push may change its storage type (reference §3.4): the value
/// is then replaced whole, under the key's lock.
pub struct Entry {
    stored: RwLock<NDArray>,
    lock: ReentrantMutex<()>,
    /// The thread holding `lock` (see [`thread_id`]), 0 when none.
    holder: Arc<AtomicU64>,
}

/// The threads waiting for a key lock, each with the holder cell of the key it waits for.
/// Only threads that found a key busy come here, and only to check and register.
static WAITING: Mutex<Vec<(u64, Arc<AtomicU64>)>> = const_mutex(Vec::new());

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD_ID: u64 = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

fn thread_id() -> u64 {
    THREAD_ID.with(|id| *id)
}

/// A key lock held by this thread.
pub struct KeyGuard<'a> {
    /// The key's holder cell, when this guard is the outermost one of this thread.
    holder: Option<&'a AtomicU64>,
    _guard: ReentrantMutexGuard<'a, ()>,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        // Runs before the lock itself is released.
        if let Some(holder) = self.holder {
            holder.store(0, Ordering::Relaxed);
        }
    }
}

impl Entry {
    pub(super) fn new(stored: NDArray) -> Entry {
        Entry {
            stored: RwLock::new(stored),
            lock: ReentrantMutex::new(()),
            holder: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The stored value (MXNet's `local`): an array that shares its memory. Read or write
    /// it whole under [`Entry::lock`].
    pub fn stored(&self) -> NDArray {
        self.stored.read().clone()
    }

    /// Makes a push's merged value the stored value (MXNet's assign without an updater);
    /// the caller holds the key's lock. When their storage types differ, the stored value
    /// becomes a copy of `merged` in its storage type, keeping the key's dtype.
    pub fn assign(&self, merged: Merged<'_>) -> Result<()> {
        let stored = self.stored();
        match merged {
            Merged::Array(a) if a.storage() != stored.storage() => {
                let copy = a.copy_as(a.storage(), stored.dtype(), stored.context())?;
                *self.stored.write() = copy;
                Ok(())
            }
            Merged::Array(a) if a.is_sparse() => stored.assign_value(&a),
            merged => merged.assign_to(&stored),
        }
    }

    /// Takes the key's lock, waiting for it unless that would deadlock (`None`).
    pub fn lock(&self) -> Option<KeyGuard<'_>> {
        let me = thread_id();
        if let Some(guard) = self.lock.try_lock() {
            return Some(self.held(guard, me));
        }
        {
            let mut waiting = WAITING.lock();
            if self.waits_for(me, &waiting) {
                return None;
            }
            waiting.push((me, self.holder.clone()));
        }
        let guard = self.lock.lock();
        WAITING.lock().retain(|(t, _)| *t != me);
        Some(self.held(guard, me))
    }

    fn held<'a>(&'a self, guard: ReentrantMutexGuard<'a, ()>, me: u64) -> KeyGuard<'a> {
        let outermost = self.holder.load(Ordering::Relaxed) != me;
        if outermost {
            self.holder.store(me, Ordering::Relaxed);
        }
        KeyGuard {
            holder: outermost.then_some(&*self.holder),
            _guard: guard,
        }
    }

    /// Whether this key's holder is, through a chain of waits, waiting for thread `me`.
    fn waits_for(&self, me: u64, waiting: &[(u64, Arc<AtomicU64>)]) -> bool {
        let mut holder = self.holder.load(Ordering::Relaxed);
        // A chain visits each waiting thread at most once.
        for _ in 0..=waiting.len() {
            if holder == me {
                return true;
            }
            match waiting.iter().find(|(t, _)| *t == holder) {
                Some((_, next)) => holder = next.load(Ordering::Relaxed),
                None => return false,
            }
        }
        false
    }

    /// Copies the stored value into `out`, in `out`'s storage type: whole, as it is before
    /// or after an update in progress on another thread — except when waiting for that
    /// update would deadlock, then as it is. A pull into the stored value itself (the
    /// updater's `local`) is a no-op.
    pub fn copy_to(&self, out: &NDArray) -> Result<()> {
        if out.same_memory(&self.stored()) {
            return Ok(());
        }
        let _whole = self.lock();
        out.assign_value(&self.stored())
    }
}
