//! Handles: what C holds instead of pointers. A handle encodes a kind tag, a slot index and
//! the slot's generation, so a NULL, foreign, stale (freed) or wrong-kind handle is
//! recognised and reported, never dereferenced (spec §4.1).
//!
//! Layout of the pointer-sized value: bits 0–3 kind tag, 4–35 slot index, 36–63 generation.
//! Real pointers are at least 2-byte aligned; the tags are odd, so no pointer is a handle.
//!
//! The registry is generic: each concept of the skin declares its own registry beside its
//! functions (`ffi/ndarray.rs`, `ffi/kvstore.rs`), with its kind from [`HandleKind`].

use std::ffi::c_void;
use std::sync::Arc;

use parking_lot::RwLock;
use smallvec::SmallVec;

use crate::error::{Error, Result};

const TAG_BITS: u32 = 4;
const INDEX_BITS: u32 = 32;
const TAG_MASK: usize = (1 << TAG_BITS) - 1;
const GEN_MASK: u32 = (1 << 28) - 1;

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

/// A registry of live objects of one kind.
pub(crate) struct HandleMap<T> {
    kind: HandleKind,
    slots: RwLock<Slots<T>>,
}

struct Slots<T> {
    entries: Vec<Slot<T>>,
    free: Vec<u32>,
}

struct Slot<T> {
    generation: u32,
    value: Option<Arc<T>>,
}

impl<T> HandleMap<T> {
    pub(crate) fn new(kind: HandleKind) -> HandleMap<T> {
        HandleMap {
            kind,
            slots: RwLock::new(Slots {
                entries: Vec::new(),
                free: Vec::new(),
            }),
        }
    }

    /// Registers `value` and returns its new handle.
    pub(crate) fn insert(&self, value: Arc<T>) -> *mut c_void {
        let mut slots = self.slots.write();
        let index = match slots.free.pop() {
            Some(i) => i,
            None => {
                slots.entries.push(Slot {
                    generation: 1,
                    value: None,
                });
                (slots.entries.len() - 1) as u32
            }
        };
        let slot = &mut slots.entries[index as usize];
        slot.value = Some(value);
        self.encode(index, slot.generation)
    }

    /// The object behind a handle.
    pub(crate) fn get(&self, handle: *mut c_void) -> Result<Arc<T>> {
        self.find(&self.slots.read(), handle).cloned()
    }

    /// Copies of the objects behind several handles, looked up under one lock (one or two
    /// without allocating).
    pub(crate) fn clone_each(&self, handles: &[*mut c_void]) -> Result<SmallVec<[T; 2]>>
    where
        T: Clone,
    {
        let slots = self.slots.read();
        let mut copies = SmallVec::with_capacity(handles.len());
        for &h in handles {
            copies.push(T::clone(self.find(&slots, h)?));
        }
        Ok(copies)
    }

    #[inline]
    fn find<'s>(&self, slots: &'s Slots<T>, handle: *mut c_void) -> Result<&'s Arc<T>> {
        let (index, generation) = self.decode(handle)?;
        match slots.entries.get(index as usize) {
            Some(Slot {
                generation: g,
                value: Some(v),
            }) if *g == generation => Ok(v),
            Some(_) => Err(self.stale(handle)),
            None => Err(self.foreign(handle)),
        }
    }

    /// Frees a handle, as C's `free` does: NULL is accepted and does nothing (reference
    /// §1.2); a stale, foreign or wrong-kind handle is an error.
    pub(crate) fn free(&self, handle: *mut c_void) -> Result<()> {
        if handle.is_null() {
            return Ok(());
        }
        self.remove(handle).map(drop)
    }

    /// Unregisters a handle; the object lives on while other references to it exist.
    fn remove(&self, handle: *mut c_void) -> Result<Arc<T>> {
        let (index, generation) = self.decode(handle)?;
        let mut slots = self.slots.write();
        let value = match slots.entries.get_mut(index as usize) {
            Some(slot) if slot.generation == generation && slot.value.is_some() => {
                slot.value.take().expect("checked above")
            }
            Some(_) => return Err(self.stale(handle)),
            None => return Err(self.foreign(handle)),
        };
        // A slot whose generations are used up is retired, never reused: a generation that
        // wrapped around would make a long-freed handle valid again.
        let slot = &mut slots.entries[index as usize];
        if slot.generation < GEN_MASK {
            slot.generation += 1;
            slots.free.push(index);
        }
        Ok(value)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_foreign_and_wrong_kind_handles_are_errors() {
        let map: HandleMap<i32> = HandleMap::new(HandleKind::NDArray);
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
        let other: HandleMap<i32> = HandleMap::new(HandleKind::KVStore);
        let k = other.insert(Arc::new(1));
        assert!(map
            .get(k)
            .unwrap_err()
            .to_string()
            .contains("got a KVStore handle"));
    }

    #[test]
    fn a_slot_whose_generations_are_used_up_is_retired() {
        let map: HandleMap<i32> = HandleMap::new(HandleKind::NDArray);
        let first = map.insert(Arc::new(1));
        map.slots.write().entries[0].generation = GEN_MASK;
        map.free(first).unwrap_err(); // its generation changed under it: stale
        let last = map.encode(0, GEN_MASK);
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
    fn freeing_null_does_nothing_and_a_double_free_is_an_error() {
        let map: HandleMap<i32> = HandleMap::new(HandleKind::NDArray);
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
