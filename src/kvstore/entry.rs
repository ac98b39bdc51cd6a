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

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{const_mutex, Condvar, Mutex, RwLock};

use super::merge::Merged;
use crate::error::{Error, Result};
use crate::ndarray::{NDArray, Shape};

/// Which way a call's arrays move: into the store (push) or out of it (pull). MXNet's
/// shape-mismatch message names the source first (reference §3.11): the pushed value on a
/// push, the stored value on a pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Push,
    Pull,
}

/// One key's stored value. A push may change its storage type (reference §3.4): the value
/// is then replaced whole, under the key's lock; its shape and dtype never change.
pub struct Entry {
    stored: RwLock<NDArray>,
    /// How many times `stored` was replaced: a push that read the value before taking the
    /// key's lock ([`Entry::found`]) uses what it read while this has not changed, instead
    /// of reading it again under the lock. Changed only by the key lock's holder.
    replaced: AtomicU64,
    /// The stored value's shape, read without a lock when a call's arrays are checked.
    shape: Shape,
    /// The key's lock: the thread holding it (see [`thread_id`]), 0 when it is free. A
    /// thread takes it by swapping 0 for its id, and takes it again (nested) when it
    /// holds it already.
    holder: Arc<AtomicU64>,
    /// How many threads wait in [`Entry::lock`] for `holder` to become 0.
    waiters: AtomicUsize,
    /// Wakes them: waited on with [`WAITING`]'s lock.
    released: Condvar,
}

/// A key's stored value as a push read it before taking the key's lock, and which
/// replacement of the value it saw.
pub struct Found {
    pub value: NDArray,
    replaced: u64,
}

/// The threads waiting for a key lock, each with the holder cell of the key it waits for.
/// Only threads that found a key busy come here, and only to check, register and sleep.
static WAITING: Mutex<Vec<(u64, Arc<AtomicU64>)>> = const_mutex(Vec::new());

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's id, 0 until it first takes a key lock.
    static THREAD_ID: Cell<u64> = const { Cell::new(0) };
}

/// This thread's id for key locks: never 0, never reused.
fn thread_id() -> u64 {
    THREAD_ID.with(|id| match id.get() {
        0 => {
            let new = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
            id.set(new);
            new
        }
        known => known,
    })
}

/// A key lock held by this thread.
pub struct KeyGuard<'a> {
    /// The entry to release, when this guard is the outermost one of this thread.
    outermost: Option<&'a Entry>,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.outermost {
            entry.release();
        }
    }
}

impl Entry {
    pub(crate) fn new(stored: NDArray) -> Entry {
        Entry {
            shape: stored.shape().clone(),
            stored: RwLock::new(stored),
            replaced: AtomicU64::new(0),
            holder: Arc::new(AtomicU64::new(0)),
            waiters: AtomicUsize::new(0),
            released: Condvar::new(),
        }
    }

    /// The stored value (MXNet's `local`): an array that shares its memory. Read or write
    /// it whole under [`Entry::lock`].
    pub fn stored(&self) -> NDArray {
        self.stored.read().clone()
    }

    /// Runs `f` on the stored value where it is (without a reference to keep): for the key
    /// lock's holder, under which it is not replaced.
    #[inline]
    pub(crate) fn with_stored<R>(&self, f: impl FnOnce(&NDArray) -> R) -> R {
        f(&self.stored.read())
    }

    /// The stored value, to be used again under the key's lock ([`Entry::current`],
    /// [`Entry::unchanged_since`]).
    pub(crate) fn found(&self) -> Found {
        // Read before the value: a replacement in between is seen as one.
        let replaced = self.replaced.load(Ordering::Acquire);
        Found {
            value: self.stored(),
            replaced,
        }
    }

    /// The stored value now, for the key lock's holder: `found`'s when no push replaced it
    /// since (each replacement is counted before its holder lets go of the lock).
    pub(super) fn current<'f>(&self, found: &'f Found) -> Cow<'f, NDArray> {
        if self.unchanged_since(found) {
            Cow::Borrowed(&found.value)
        } else {
            Cow::Owned(self.stored())
        }
    }

    /// Whether the stored value is still `found`'s (no push replaced it since), for the key
    /// lock's holder.
    pub(crate) fn unchanged_since(&self, found: &Found) -> bool {
        self.replaced.load(Ordering::Acquire) == found.replaced
    }

    /// Moves the stored value into `to` (dense memory of the same shape and dtype), under
    /// the key's lock: a distributed engine lays out the values of keys inited together in
    /// one block. A value whose lock cannot be had (see [`Entry::lock`]) stays where it is.
    pub fn relocate(&self, to: NDArray) -> Result<()> {
        let Some(_whole) = self.lock() else {
            return Ok(());
        };
        to.assign_sum(&[&self.stored()])?;
        *self.stored.write() = to;
        self.replaced.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Checks that `array` has the stored value's shape, for a call moving it in
    /// `direction`.
    pub(super) fn check_shape(&self, array: &NDArray, direction: Direction) -> Result<()> {
        // Element by element: shapes are short, and a call to compare memory costs more.
        let (given, kept) = (&array.shape().0, &self.shape.0);
        if given.len() == kept.len() && given.iter().zip(kept).all(|(a, b)| a == b) {
            return Ok(());
        }
        self.shape_mismatch(array, direction)
    }

    #[cold]
    fn shape_mismatch(&self, array: &NDArray, direction: Direction) -> Result<()> {
        let (from, to) = match direction {
            Direction::Push => (array.shape(), &self.shape),
            Direction::Pull => (&self.shape, array.shape()),
        };
        Err(Error::ShapeMismatch {
            from: from.to_string(),
            to: to.to_string(),
        })
    }

    /// Makes a push's merged value the stored value (MXNet's assign without an updater);
    /// the caller holds the key's lock, and read the value as `found`. When their storage
    /// types differ, the stored value becomes a copy of `merged` in its storage type,
    /// keeping the key's dtype.
    #[inline]
    pub(super) fn assign(&self, merged: Merged<'_>, found: &Found) -> Result<()> {
        let stored = self.current(found);
        match merged {
            Merged::Array(a) if a.storage() != stored.storage() => {
                let copy = a.copy_as(a.storage(), stored.dtype(), stored.context())?;
                *self.stored.write() = copy;
                self.replaced.fetch_add(1, Ordering::Release);
                Ok(())
            }
            Merged::Array(a) if a.is_sparse() => stored.assign_value(&a),
            merged => merged.assign_to(&stored),
        }
    }

    /// Takes the key's lock, waiting for it unless that would deadlock (`None`).
    #[inline]
    pub fn lock(&self) -> Option<KeyGuard<'_>> {
        let me = thread_id();
        match self
            .holder
            .compare_exchange(0, me, Ordering::SeqCst, Ordering::Relaxed)
        {
            Ok(_) => Some(KeyGuard {
                outermost: Some(self),
            }),
            Err(holder) if holder == me => Some(KeyGuard { outermost: None }),
            Err(_) => self.wait_for_lock(me),
        }
    }

    /// The key is held by another thread: waits until it is free, unless that thread
    /// waits, through a chain of waits, for this one (`None`).
    #[cold]
    #[inline(never)]
    fn wait_for_lock(&self, me: u64) -> Option<KeyGuard<'_>> {
        let mut waiting = WAITING.lock();
        // Counted before the swap is tried again, so that a release that the swap misses
        // sees the count and wakes this thread (both sides are sequentially consistent).
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut registered = false;
        let taken = loop {
            if self
                .holder
                .compare_exchange(0, me, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                break true;
            }
            if self.waits_for(me, &waiting) {
                break false;
            }
            if !registered {
                waiting.push((me, self.holder.clone()));
                registered = true;
            }
            self.released.wait(&mut waiting);
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        if registered {
            waiting.retain(|(t, _)| *t != me);
        }
        // Made only when taken: dropping a guard releases the lock, held by another
        // thread when this one gives up.
        taken.then(|| KeyGuard {
            outermost: Some(self),
        })
    }

    /// Lets go of the key's lock and wakes the threads waiting for it.
    #[inline]
    fn release(&self) {
        self.holder.store(0, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.wake_waiters();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_waiters(&self) {
        let _waiting = WAITING.lock();
        self.released.notify_all();
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
    #[inline(always)]
    pub fn copy_to(&self, out: &NDArray) -> Result<()> {
        match self.lock() {
            // Only the holder of the key's lock replaces the value: read it in place.
            Some(_whole) => copy_value(&self.stored.read(), out),
            None => copy_value(&self.stored(), out),
        }
    }
}

/// Copies a stored value into `out` (whose shape was checked), unless it is `out` itself.
#[inline]
fn copy_value(stored: &NDArray, out: &NDArray) -> Result<()> {
    if out.same_memory(stored) {
        Ok(())
    } else if stored.is_sparse() || out.is_sparse() {
        out.assign_value(stored)
    } else {
        out.assign_sum(&[stored])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::Entry;
    use crate::ndarray::{Context, NDArray};

    fn entry() -> Entry {
        Entry::new(NDArray::from_slice(&[1], &[0f32], Context::cpu(0)).unwrap())
    }

    #[test]
    fn a_key_lock_excludes_other_threads_and_wakes_them() {
        // Each thread reads, yields and writes back a count under the lock: an increment
        // lost to another thread inside the lock would show in the total.
        let (entry, count) = (Arc::new(entry()), Arc::new(AtomicU64::new(0)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (entry, count) = (entry.clone(), count.clone());
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        let _held = entry.lock().expect("no chain of waits");
                        let seen = count.load(Ordering::Relaxed);
                        std::thread::yield_now();
                        count.store(seen + 1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(count.load(Ordering::Relaxed), 8000);
        assert_eq!(entry.holder.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_key_lock_is_taken_again_by_its_holder_and_freed_by_the_outermost_guard() {
        let e = entry();
        let outer = e.lock().unwrap();
        let inner = e.lock().unwrap();
        drop(inner);
        assert_ne!(e.holder.load(Ordering::Relaxed), 0);
        drop(outer);
        assert_eq!(e.holder.load(Ordering::Relaxed), 0);
        std::thread::scope(|s| s.spawn(|| assert!(e.lock().is_some())).join().unwrap());
    }

    #[test]
    fn a_lock_refused_for_a_chain_of_waits_stays_with_its_holder() {
        let (first, second) = (entry(), entry());
        let second_held = second.lock().unwrap();
        let (taken_tx, taken_rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let other = s.spawn(|| {
                let _first = first.lock().unwrap();
                taken_tx.send(super::thread_id()).unwrap();
                // Waits for this test's thread, which holds `second`.
                second.lock().is_some()
            });
            let other_id = taken_rx.recv().unwrap();
            while second.waiters.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            // `first`'s holder waits for this thread: refused, and still held by it.
            assert!(first.lock().is_none());
            assert_eq!(first.holder.load(Ordering::SeqCst), other_id);
            drop(second_held);
            assert!(other.join().unwrap());
        });
        assert_eq!(first.holder.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_relocated_value_lives_in_the_new_memory_with_its_elements() {
        let e = Entry::new(NDArray::from_slice(&[2], &[3f32, 4.], Context::cpu(0)).unwrap());
        let block = NDArray::from_slice(&[4], &[0f32; 4], Context::cpu(0)).unwrap();
        e.relocate(block.slice(1, 3).unwrap()).unwrap();
        assert_eq!(block.to_vec::<f32>().unwrap(), [0., 3., 4., 0.]);
        assert!(e.stored().same_memory(&block.slice(1, 3).unwrap()));
    }

    #[test]
    fn a_pull_checks_the_shape_naming_the_stored_value_first() {
        let e = entry();
        let out = NDArray::from_slice(&[2], &[0f32, 0.], Context::cpu(0)).unwrap();
        let pull = e.check_shape(&out, super::Direction::Pull).unwrap_err();
        assert_eq!(
            pull.to_string(),
            "operands shape mismatch from.shape = [1] to.shape=[2]"
        );
        let push = e.check_shape(&out, super::Direction::Push).unwrap_err();
        assert_eq!(
            push.to_string(),
            "operands shape mismatch from.shape = [2] to.shape=[1]"
        );
    }
}
