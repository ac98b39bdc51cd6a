//! The keys of a call and the key table: which keys a store holds, what each string key
//! maps to, and how a call's keys resolve to their entries (reference §3.2).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use smallvec::SmallVec;

use super::entry::{Direction, Entry};
use crate::error::{escaped, Error, Result};
use crate::ndarray::NDArray;

/// The keys of one call: a store is int-keyed or string-keyed (reference §3.2). String
/// keys are bytes, as MXNet's C strings are: any bytes but NUL, UTF-8 or not.
#[derive(Debug, Clone, Copy)]
pub enum Keys<'a> {
    Int(&'a [i32]),
    Str(&'a [&'a [u8]]),
}

impl Keys<'_> {
    pub fn len(&self) -> usize {
        match self {
            Keys::Int(k) => k.len(),
            Keys::Str(k) => k.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn kind(&self) -> KeyType {
        match self {
            Keys::Int(_) => KeyType::Int,
            Keys::Str(_) => KeyType::Str,
        }
    }
}

/// MXNet's codes: kStringKey = 0, kIntKey = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Str = 0,
    Int = 1,
}

impl KeyType {
    fn name(self) -> &'static str {
        match self {
            KeyType::Str => "string",
            KeyType::Int => "int",
        }
    }
}

/// Int keys are chosen by the program, not by an adversary: a multiplicative hash is
/// enough, and much cheaper than SipHash on the push/pull path.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_i32(&mut self, i: i32) {
        self.0 = (i as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[derive(Default)]
pub(super) struct KeyTable {
    key_type: Option<KeyType>,
    /// String key → internal index, assigned 0, 1, 2 … in registration order.
    index: HashMap<Vec<u8>, i32>,
    entries: HashMap<i32, Arc<Entry>, BuildHasherDefault<KeyHasher>>,
}

/// A key of a call, resolved: internal key, the name it was given by, and its entry.
pub(super) struct Target<'a> {
    pub key: i32,
    pub name: Option<&'a [u8]>,
    pub entry: Arc<Entry>,
}

/// The keys of a call, resolved; a call of one or two keys allocates nothing for them.
pub(super) type Targets<'a> = SmallVec<[Target<'a>; 2]>;

/// Keys about to be added by an Init or Broadcast, validated and with their values copied.
pub(super) struct NewKeys<'a> {
    kind: KeyType,
    pub added: Vec<Target<'a>>,
}

impl KeyTable {
    fn check_key_type(&self, call: KeyType) -> Result<()> {
        match self.key_type {
            Some(store) if store != call => Err(Error::MixedKeyTypes {
                store: store as i32,
                call: call as i32,
                store_name: store.name(),
                call_name: call.name(),
            }),
            _ => Ok(()),
        }
    }

    /// Checks an Init of `keys` with `values` whole and makes the new entries, without
    /// changing the table: `stored` makes each entry's value from the caller's array.
    pub fn prepare_init<'k>(
        &self,
        keys: Keys<'k>,
        values: &[NDArray],
        stored: impl Fn(&NDArray) -> Result<Entry>,
    ) -> Result<NewKeys<'k>> {
        self.check_key_type(keys.kind())?;
        check_counts(keys, values)?;
        let mut added: Vec<Target<'k>> = Vec::with_capacity(keys.len());
        let mut next_index = self.index.len() as i32;
        for (i, value) in values.iter().enumerate() {
            let (key, name) = match keys {
                Keys::Int(k) => {
                    let key = k[i];
                    if self.entries.contains_key(&key) || added.iter().any(|t| t.key == key) {
                        return Err(Error::DuplicateInit(key.to_string()));
                    }
                    (key, None)
                }
                Keys::Str(k) => {
                    let name = k[i];
                    if self.index.contains_key(name) || added.iter().any(|t| t.name == Some(name)) {
                        return Err(Error::DuplicateInit(escaped(name)));
                    }
                    next_index += 1;
                    (next_index - 1, Some(name))
                }
            };
            if value.is_none() {
                return Err(Error::NoneArray("cannot init a key with it"));
            }
            let entry = Arc::new(stored(value)?);
            added.push(Target { key, name, entry });
        }
        Ok(NewKeys {
            kind: keys.kind(),
            added,
        })
    }

    pub fn commit(&mut self, new: &NewKeys<'_>) {
        if new.added.is_empty() {
            return;
        }
        self.key_type = Some(new.kind);
        for t in &new.added {
            if let Some(name) = t.name {
                self.index.insert(name.to_vec(), t.key);
            }
            self.entries.insert(t.key, t.entry.clone());
        }
    }

    /// Resolves every key of a call (including keys about to be added) into `targets`
    /// (empty, and left so on an error: they are filled in place, the call's hot path moves
    /// no list) and checks the arrays' shapes against the stored values.
    pub fn resolve<'k>(
        &self,
        targets: &mut Targets<'k>,
        pending: Option<&NewKeys<'_>>,
        keys: Keys<'k>,
        arrays: &[NDArray],
        direction: Direction,
    ) -> Result<()> {
        check_counts(keys, arrays)?;
        self.lookup(targets, pending, keys)?;
        for (t, a) in targets.iter().zip(arrays) {
            if a.is_none() {
                return Err(Error::NoneArray("it cannot be pushed or pulled"));
            }
            t.entry.check_shape(a, direction)?;
        }
        Ok(())
    }

    #[inline]
    fn lookup<'k>(
        &self,
        targets: &mut Targets<'k>,
        pending: Option<&NewKeys<'_>>,
        keys: Keys<'k>,
    ) -> Result<()> {
        if !keys.is_empty() {
            self.check_key_type(keys.kind())?;
        }
        let added: &[Target<'_>] = pending.map_or(&[], |p| &p.added);
        let find = |key: i32| -> Option<Arc<Entry>> {
            self.entries
                .get(&key)
                .cloned()
                .or_else(|| added.iter().find(|t| t.key == key).map(|t| t.entry.clone()))
        };
        let index_of = |name: &[u8]| -> Option<i32> {
            self.index
                .get(name)
                .copied()
                .or_else(|| added.iter().find(|t| t.name == Some(name)).map(|t| t.key))
        };
        targets.reserve(keys.len());
        match keys {
            Keys::Int(ks) => {
                for &key in ks {
                    let Some(entry) = find(key) else {
                        return Err(Error::NotInited(key));
                    };
                    targets.push(Target {
                        key,
                        name: None,
                        entry,
                    });
                }
            }
            Keys::Str(ks) => {
                for &name in ks {
                    let missing = || Error::UnknownKey(escaped(name));
                    let key = index_of(name).ok_or_else(missing)?;
                    let entry = find(key).ok_or_else(missing)?;
                    targets.push(Target {
                        key,
                        name: Some(name),
                        entry,
                    });
                }
            }
        }
        Ok(())
    }
}

fn check_counts(keys: Keys<'_>, arrays: &[NDArray]) -> Result<()> {
    if keys.len() != arrays.len() {
        return Err(Error::invalid(format!(
            "{} keys but {} arrays",
            keys.len(),
            arrays.len()
        )));
    }
    Ok(())
}
