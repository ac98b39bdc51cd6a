//! Handles: what C holds instead of pointers. A handle encodes a kind tag, a slot index and
//! the slot's generation, so a NULL, foreign, stale (freed) or wrong-kind handle is
//! recognised and reported, never dereferenced (spec §4.1).
//!
//! Layout of the pointer-sized value: bits 0–3 kind tag, 4–35 slot index, 36–63 generation.
//! Real pointers are at least 2-byte aligned; the tags are odd, so no pointer is a handle.
//!
//! The registry is generic: each concept of the skin declares its own registry beside its
//! functions (`ffi/ndarray.rs`, `ffi/kvstore.rs`), with its kind from [`HandleKind`].
//!
//! # Lookups without a lock
//! Every push and pull looks up a store and its arrays, so a lookup takes no lock and
//! touches no shared counter but the value's own reference count. Each slot publishes a
//! *record*: the handle that is live in it and a weak reference to its value. A lookup
//! reads the slot's record, compares the handle and upgrades the weak reference. The
//! strong reference that the handle stands for lives in the slot table, behind a mutex
//! that only insert and free take. Free unpublishes the record and drops the value at
//! once (when nothing else holds it, its destructor runs in the free call, as before); a
//! lookup that read the record just before finds the value gone and reports the handle
//! as freed. Only the record's memory outlives the free: it is released through an epoch
//! ([`crossbeam_epoch`]) once no thread can still be reading it, [`RETIRE_BATCH`] records
//! at a time (one deferred destruction per record would make the epoch allocate a bag of
//! garbage every few dozen frees). A caller that looks up several handles in one call pins
//! the epoch once around them ([`pin`]); a nested pin is a thread-local count.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock, Weak};

pub(crate) use crossbeam_epoch::Guard;
use crossbeam_epoch::{self as epoch, Atomic, Owned};
use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::error::{Error, Result};
use crate::ndarray::{NDArray, WeakArray};

const TAG_BITS: u32 = 4;
const INDEX_BITS: u32 = 32;
const TAG_MASK: usize = (1 << TAG_BITS) - 1;
const GEN_MASK: u32 = (1 << 28) - 1;

/// Slots of the first segment of the published records; each further segment doubles, so
/// [`SEGMENTS`] of them hold every index of 32 bits and no segment ever moves.
const FIRST_SEGMENT: usize = 64;
const SEGMENTS: usize = 27;

/// How many unpublished records are handed to the epoch together.
const RETIRE_BATCH: usize = 64;

/// The kinds of handle: a tag for each, and the name used in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandleKind {
    NDArray = 0x9,
    KVStore = 0xB,
}

impl HandleKind {
    const ALL: [HandleKind; 2] = [HandleKind::NDArray, HandleKind::KVStore];

    fn tag(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        match self {
            HandleKind::NDArray => "NDArray",
            HandleKind::KVStore => "KVStore",
        }
    }
}

/// A value a registry holds: shared, with a weak form that does not keep it alive.
pub(crate) trait Shared: Sized {
    type Weak: Send + Sync + 'static;
    fn downgrade(&self) -> Self::Weak;
    fn upgrade(weak: &Self::Weak) -> Option<Self>;
}

impl<T: Send + Sync + 'static> Shared for Arc<T> {
    type Weak = Weak<T>;
    fn downgrade(&self) -> Weak<T> {
        Arc::downgrade(self)
    }
    fn upgrade(weak: &Weak<T>) -> Option<Arc<T>> {
        weak.upgrade()
    }
}

impl Shared for NDArray {
    type Weak = WeakArray;
    fn downgrade(&self) -> WeakArray {
        NDArray::downgrade(self)
    }
    fn upgrade(weak: &WeakArray) -> Option<NDArray> {
        weak.upgrade()
    }
}

/// Pins the epoch for the lookups of one call (see the module doc).
pub(crate) fn pin() -> Guard {
    epoch::pin()
}

/// A registry of live objects of one kind.
pub(crate) struct HandleMap<T: Shared> {
    kind: HandleKind,
    /// Insert and free: generations, free slots and the values the handles stand for.
    slots: Mutex<Slots<T>>,
    /// Per slot, the record that lookups read.
    published: [OnceLock<Segment<T::Weak>>; SEGMENTS],
    /// How many slots were ever used: an index past them is foreign, not stale.
    used: AtomicU32,
}

struct Slots<T: Shared> {
    entries: Vec<Slot<T>>,
    free: Vec<u32>,
    /// Records unpublished by frees, not yet handed to the epoch.
    retired: Vec<Retired<T::Weak>>,
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Consecutive slots' records, allocated once and never moved.
type Segment<W> = Box<[Atomic<Record<W>>]>;

/// What a lookup reads: the handle live in a slot, and its value.
struct Record<W> {
    handle: usize,
    value: W,
}

/// An unpublished record, owned by the registry until it is destroyed through the epoch.
struct Retired<W>(*mut Record<W>);

// SAFETY: a retired record is only destroyed (once), never read through this pointer.
unsafe impl<W: Send> Send for Retired<W> {}

impl<W> Drop for Retired<W> {
    fn drop(&mut self) {
        // SAFETY: the record came from an `Owned` and was unpublished; it is dropped only
        // after the epoch's grace period (or with its map, when no lookup can run).
        drop(unsafe { Owned::from_raw(self.0) });
    }
}

impl<T: Shared> HandleMap<T> {
    pub(crate) const fn new(kind: HandleKind) -> HandleMap<T> {
        HandleMap {
            kind,
            slots: Mutex::new(Slots {
                entries: Vec::new(),
                free: Vec::new(),
                retired: Vec::new(),
            }),
            published: [const { OnceLock::new() }; SEGMENTS],
            used: AtomicU32::new(0),
        }
    }

    /// Registers `value` and returns its new handle.
    pub(crate) fn insert(&self, value: T) -> *mut c_void {
        let mut record = Owned::new(Record {
            handle: 0,
            value: value.downgrade(),
        });
        let mut slots = self.slots.lock();
        let index = match slots.free.pop() {
            Some(i) => i,
            None => {
                slots.entries.push(Slot {
                    generation: 1,
                    value: None,
                });
                let index = (slots.entries.len() - 1) as u32;
                self.used.store(index + 1, Ordering::Release);
                index
            }
        };
        let slot = &mut slots.entries[index as usize];
        slot.value = Some(value);
        let handle = self.encode(index, slot.generation);
        record.handle = handle as usize;
        self.record_slot(index).store(record, Ordering::Release);
        handle
    }

    /// The object behind a handle.
    pub(crate) fn get(&self, handle: *mut c_void) -> Result<T> {
        self.find(handle, &pin())
    }

    /// The objects behind several handles, looked up under the caller's pin.
    pub(crate) fn get_each(
        &self,
        handles: &[*mut c_void],
        pinned: &Guard,
    ) -> Result<SmallVec<[T; 2]>> {
        // Sized first: collecting from fallible lookups would grow the list step by step.
        let mut found = SmallVec::with_capacity(handles.len());
        for &h in handles {
            found.push(self.find(h, pinned)?);
        }
        Ok(found)
    }

    /// The object behind a handle, looked up under the caller's pin.
    #[inline]
    pub(crate) fn find(&self, handle: *mut c_void, guard: &Guard) -> Result<T> {
        let (index, _) = self.decode(handle)?;
        let record = self
            .published_slot(index)
            .map(|slot| slot.load(Ordering::Acquire, guard));
        // SAFETY: a record is freed only through the epoch, after it was unpublished and
        // every thread pinned when that happened has unpinned; `guard` pins this one.
        match record.and_then(|r| unsafe { r.as_ref() }) {
            Some(r) if r.handle == handle as usize => {
                T::upgrade(&r.value).ok_or_else(|| self.stale(handle))
            }
            _ => Err(self.missing(handle, index)),
        }
    }

    /// Frees a handle, as C's `free` does: NULL is accepted and does nothing (reference
    /// §1.2); a stale, foreign or wrong-kind handle is an error.
    pub(crate) fn free(&self, handle: *mut c_void) -> Result<()> {
        if handle.is_null() {
            return Ok(());
        }
        // The value is dropped here, after the registry's lock is released.
        self.remove(handle).map(drop)
    }

    /// Unregisters a handle; the object lives on while other references to it exist.
    fn remove(&self, handle: *mut c_void) -> Result<T> {
        let (index, generation) = self.decode(handle)?;
        let guard = pin();
        let mut slots = self.slots.lock();
        let value = match slots.entries.get_mut(index as usize) {
            Some(slot) if slot.generation == generation && slot.value.is_some() => {
                slot.value.take().expect("checked above")
            }
            Some(_) => return Err(self.stale(handle)),
            None => return Err(self.foreign(handle)),
        };
        let record = self
            .record_slot(index)
            .swap(epoch::Shared::null(), Ordering::AcqRel, &guard);
        if !record.is_null() {
            slots.retired.push(Retired(record.as_raw().cast_mut()));
        }
        if slots.retired.len() >= RETIRE_BATCH {
            // Only lookups pinned now can still read these records (unpublished before now).
            let batch = std::mem::take(&mut slots.retired);
            guard.defer(move || drop(batch));
        }
        // A slot whose generations are used up is retired, never reused: a generation that
        // wrapped around would make a long-freed handle valid again.
        let slot = &mut slots.entries[index as usize];
        if slot.generation < GEN_MASK {
            slot.generation += 1;
            slots.free.push(index);
        }
        Ok(value)
    }

    /// Where slot `index` publishes its record, if that slot's segment exists.
    #[inline]
    fn published_slot(&self, index: u32) -> Option<&Atomic<Record<T::Weak>>> {
        let (segment, offset) = segment_of(index);
        self.published[segment].get().map(|s| &s[offset])
    }

    /// Where slot `index` publishes its record, its segment made if needed (under the
    /// slots' lock).
    fn record_slot(&self, index: u32) -> &Atomic<Record<T::Weak>> {
        let (segment, offset) = segment_of(index);
        let records = self.published[segment].get_or_init(|| {
            (0..FIRST_SEGMENT << segment)
                .map(|_| Atomic::null())
                .collect()
        });
        &records[offset]
    }

    /// What is wrong with a handle of this kind that no slot holds.
    #[cold]
    fn missing(&self, handle: *mut c_void, index: u32) -> Error {
        if index < self.used.load(Ordering::Acquire) {
            self.stale(handle)
        } else {
            self.foreign(handle)
        }
    }

    fn encode(&self, index: u32, generation: u32) -> *mut c_void {
        let bits = ((generation as usize) << (TAG_BITS + INDEX_BITS))
            | ((index as usize) << TAG_BITS)
            | self.kind.tag();
        bits as *mut c_void
    }

    #[inline]
    fn decode(&self, handle: *mut c_void) -> Result<(u32, u32)> {
        let bits = handle as usize;
        if bits == 0 || bits & TAG_MASK != self.kind.tag() {
            return Err(self.misfit(handle));
        }
        let index = ((bits >> TAG_BITS) & (u32::MAX as usize)) as u32;
        let generation = (bits >> (TAG_BITS + INDEX_BITS)) as u32;
        Ok((index, generation))
    }

    /// What is wrong with a handle that is NULL or not of this map's kind.
    #[cold]
    fn misfit(&self, handle: *mut c_void) -> Error {
        let tag = handle as usize & TAG_MASK;
        if handle.is_null() {
            return Error::invalid(format!("{} handle is NULL", self.kind.name()));
        }
        match HandleKind::ALL.iter().find(|k| k.tag() == tag) {
            Some(other) => Error::invalid(format!(
                "expected an {} handle, but got a {} handle ({handle:p})",
                self.kind.name(),
                other.name()
            )),
            None => self.foreign(handle),
        }
    }

    #[cold]
    fn stale(&self, handle: *mut c_void) -> Error {
        Error::invalid(format!(
            "{} handle {handle:p} is no longer valid: it was already freed (use after free or double free)",
            self.kind.name()
        ))
    }

    #[cold]
    fn foreign(&self, handle: *mut c_void) -> Error {
        Error::invalid(format!(
            "{handle:p} is not an {} handle made by mxkv",
            self.kind.name()
        ))
    }
}

/// The segment of the published records that holds slot `index`, and the offset in it.
#[inline]
fn segment_of(index: u32) -> (usize, usize) {
    let biased = index as usize + FIRST_SEGMENT;
    let segment = (usize::BITS - 1 - biased.leading_zeros()) as usize
        - FIRST_SEGMENT.trailing_zeros() as usize;
    (segment, biased - (FIRST_SEGMENT << segment))
}

impl<T: Shared> Drop for HandleMap<T> {
    /// Destroys the published records (the retired ones go with the slot table).
    fn drop(&mut self) {
        for records in self.published.iter_mut().filter_map(OnceLock::get_mut) {
            for record in records.iter() {
                // SAFETY: the map is being dropped: no lookup can run on it any more.
                unsafe {
                    let r = record.load(Ordering::Relaxed, epoch::unprotected());
                    if !r.is_null() {
                        drop(r.into_owned());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_foreign_and_wrong_kind_handles_are_errors() {
        let map: HandleMap<Arc<i32>> = HandleMap::new(HandleKind::NDArray);
        let h = map.insert(Arc::new(7));
        assert_eq!(*map.get(h).unwrap(), 7);
        assert_eq!(*map.remove(h).unwrap(), 7);
        assert!(map
            .get(h)
            .unwrap_err()
            .to_string()
            .contains("already freed"));
        assert!(map.remove(h).is_err());
        let h2 = map.insert(Arc::new(8));
        assert_ne!(h, h2, "a reused slot gets a new generation");
        assert!(map.get(h).is_err());
        let local = 5u64;
        assert!(map
            .get(&local as *const u64 as *mut c_void)
            .unwrap_err()
            .to_string()
            .contains("not an NDArray handle"));
        assert!(map
            .get(std::ptr::null_mut())
            .unwrap_err()
            .to_string()
            .contains("NULL"));
        let other: HandleMap<Arc<i32>> = HandleMap::new(HandleKind::KVStore);
        let k = other.insert(Arc::new(1));
        assert!(map
            .get(k)
            .unwrap_err()
            .to_string()
            .contains("got a KVStore handle"));
    }

    #[test]
    fn a_slot_whose_generations_are_used_up_is_retired() {
        let map: HandleMap<Arc<i32>> = HandleMap::new(HandleKind::NDArray);
        let first = map.insert(Arc::new(1));
        map.free(first).unwrap();
        map.slots.lock().entries[0].generation = GEN_MASK;
        let last = map.insert(Arc::new(1));
        assert_eq!(map.decode(last).unwrap(), (0, GEN_MASK));
        assert_eq!(*map.get(last).unwrap(), 1);
        map.free(last).unwrap();
        let next = map.insert(Arc::new(2));
        assert_ne!(
            map.decode(next).unwrap().0,
            0,
            "the exhausted slot is not reused"
        );
        for old in [first, last, map.encode(0, 1)] {
            assert!(map
                .get(old)
                .unwrap_err()
                .to_string()
                .contains("already freed"));
        }
        assert_eq!(*map.get(next).unwrap(), 2);
    }

    #[test]
    fn a_freed_value_is_dropped_by_the_free_call() {
        let map: HandleMap<Arc<i32>> = HandleMap::new(HandleKind::KVStore);
        let value = Arc::new(3);
        let weak = Arc::downgrade(&value);
        let h = map.insert(value);
        let held = map.get(h).unwrap();
        map.free(h).unwrap();
        assert_eq!(*weak.upgrade().expect("a lookup still holds it"), 3);
        drop(held);
        assert!(weak.upgrade().is_none(), "nothing holds it: gone");
        let h = map.insert(Arc::new(4));
        let weak = Arc::downgrade(&map.get(h).unwrap());
        map.free(h).unwrap();
        assert!(weak.upgrade().is_none(), "dropped in free, not later");
    }

    #[test]
    fn lookups_racing_frees_on_other_threads_see_the_value_or_a_freed_handle() {
        // One thread registers values and frees them again, reusing slots; the others look
        // up the handle registered last. Each value holds its own handle, so a lookup that
        // succeeds shows whether it got the value its handle stands for.
        use std::sync::atomic::AtomicUsize;
        let map: HandleMap<Arc<AtomicUsize>> = HandleMap::new(HandleKind::NDArray);
        let current = AtomicUsize::new(0);
        let done = std::sync::atomic::AtomicBool::new(false);
        let (found, freed) = std::thread::scope(|s| {
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let (mut found, mut freed) = (0u64, 0u64);
                        while !done.load(Ordering::Acquire) {
                            let h = current.load(Ordering::Acquire);
                            if h == 0 {
                                continue;
                            }
                            match map.get_each(&[h as *mut c_void, h as *mut c_void], &pin()) {
                                Ok(values) => {
                                    assert!(values.iter().all(|v| v.load(Ordering::Relaxed) == h));
                                    found += 1;
                                }
                                Err(e) => {
                                    assert!(e.to_string().contains("already freed"), "{e}");
                                    freed += 1;
                                }
                            }
                        }
                        (found, freed)
                    })
                })
                .collect();
            for _ in 0..20_000 {
                let value = Arc::new(AtomicUsize::new(0));
                let h = map.insert(value.clone());
                value.store(h as usize, Ordering::Relaxed);
                current.store(h as usize, Ordering::Release);
                std::thread::yield_now();
                map.free(h).unwrap();
            }
            done.store(true, Ordering::Release);
            readers
                .into_iter()
                .map(|r| r.join().unwrap())
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        });
        assert!(found + freed > 0, "the readers ran");
        assert!(
            map.slots.lock().entries.len() <= 2,
            "freed slots are reused"
        );
    }

    #[test]
    fn slots_map_to_segments_without_gaps() {
        let cases = [
            (0, (0, 0)),
            (63, (0, 63)),
            (64, (1, 0)),
            (191, (1, 127)),
            (192, (2, 0)),
        ];
        for (index, place) in cases {
            assert_eq!(segment_of(index), place, "slot {index}");
        }
        let (last, offset) = segment_of(u32::MAX);
        assert_eq!(last, SEGMENTS - 1);
        assert!(offset < FIRST_SEGMENT << last);
    }

    #[test]
    fn freeing_null_does_nothing_and_a_double_free_is_an_error() {
        let map: HandleMap<Arc<i32>> = HandleMap::new(HandleKind::NDArray);
        assert!(map.free(std::ptr::null_mut()).is_ok());
        let h = map.insert(Arc::new(1));
        assert!(map.free(h).is_ok());
        assert!(map
            .free(h)
            .unwrap_err()
            .to_string()
            .contains("already freed"));
    }
}
