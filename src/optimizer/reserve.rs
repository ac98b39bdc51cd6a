//! Memory an update needs, had before a push changes any key: a key's first state and the
//! scratch arrays of its step are allocated when the store checks the key
//! ([`Optimizer::check`]), so that a push that cannot get them fails whole, and an update
//! that follows allocates nothing whose size comes from the arrays.
//!
//! What a thread reserved waits, invisible (no state is saved, no count moves), until that
//! thread updates the key. A reservation that fails drops everything the thread reserved;
//! so does the thread's next check after an update (a new push), which drops what a push
//! that failed after its checks left. Gradient-dependent memory of a row_sparse gradient
//! (its dense or float32 copy, its row ids) is still allocated during the update.

use std::collections::{BTreeMap, HashMap};
use std::thread::ThreadId;

use parking_lot::Mutex;

use super::class::Class;
use super::updater::Optimizer;
use crate::error::Result;
use crate::ndarray::{Context, DType, NDArray, Shape, Storage};

/// One key's reserved memory.
pub(super) struct Reserved {
    /// The key's first state (its arrays in MXNet's order), when it has none yet.
    pub(super) state: Option<Vec<(&'static str, NDArray)>>,
    pub(super) scratch: Scratch,
}

/// The scratch arrays of one step.
pub(super) enum Scratch {
    None,
    /// The float32 gradient of a multi-precision update through the master copy.
    Grad32(NDArray),
    /// LAMB's direction `g` and the two norms of its trust ratio.
    Lamb {
        g: NDArray,
        r1: NDArray,
        r2: NDArray,
    },
}

/// The reservations of every thread in a push, by key.
#[derive(Default)]
pub(super) struct Reservations(Mutex<HashMap<ThreadId, Batch>>);

#[derive(Default)]
struct Batch {
    keys: BTreeMap<i32, Reserved>,
    /// Whether the thread has updated a key since it last reserved one.
    applying: bool,
}

impl Reservations {
    /// Keeps what `make` reserves for `key`, unless this thread's push reserved it already.
    /// On an error, everything this thread reserved is dropped. (Only this thread changes
    /// its batch: the lock is not held while `make` allocates.)
    pub(super) fn reserve(&self, key: i32, make: impl FnOnce() -> Result<Reserved>) -> Result<()> {
        let thread = std::thread::current().id();
        {
            let mut batches = self.0.lock();
            let batch = batches.entry(thread).or_default();
            if std::mem::take(&mut batch.applying) {
                batch.keys.clear();
            }
            if batch.keys.contains_key(&key) {
                return Ok(());
            }
        }
        let made = make();
        let mut batches = self.0.lock();
        match made {
            Ok(reserved) => {
                batches
                    .entry(thread)
                    .or_default()
                    .keys
                    .insert(key, reserved);
                Ok(())
            }
            Err(e) => {
                batches.remove(&thread);
                Err(e)
            }
        }
    }

    /// What this thread reserved for `key`, taken for its update.
    pub(super) fn take(&self, key: i32) -> Option<Reserved> {
        let thread = std::thread::current().id();
        let mut batches = self.0.lock();
        let batch = batches.get_mut(&thread)?;
        batch.applying = true;
        let reserved = batch.keys.remove(&key);
        if batch.keys.is_empty() {
            batches.remove(&thread);
        }
        reserved
    }

    /// Drops every reservation (the states they hold were made for states now replaced).
    pub(super) fn clear(&self) {
        self.0.lock().clear();
    }

    /// How many keys' reservations are held.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.0.lock().values().map(|b| b.keys.len()).sum()
    }
}

impl Optimizer {
    /// Whether an update of `weight` needs scratch arrays or, without a state, a new one.
    pub(super) fn needs_reserving(&self, weight: &NDArray, has_state: bool) -> bool {
        !has_state || !matches!(self.scratch_kind(weight), ScratchKind::None)
    }

    /// Allocates what an update of `weight` needs: its first state unless `has_state`, and
    /// the step's scratch arrays.
    pub(super) fn reserve(&self, weight: &NDArray, has_state: bool) -> Result<Reserved> {
        let state = if has_state {
            None
        } else {
            Some(self.new_state(weight)?)
        };
        let like = |dtype| NDArray::new(weight.shape().clone(), dtype, weight.context());
        let scratch = match self.scratch_kind(weight) {
            ScratchKind::None => Scratch::None,
            ScratchKind::Grad32 => Scratch::Grad32(like(DType::F32)?),
            ScratchKind::Lamb(dtype) => {
                let scalar = || NDArray::new(Shape(vec![1]), dtype, Context::cpu(0));
                Scratch::Lamb {
                    g: like(dtype)?,
                    r1: scalar()?,
                    r2: scalar()?,
                }
            }
        };
        Ok(Reserved { state, scratch })
    }

    /// Whether `reserved` (reserved by this thread, maybe in an earlier push that failed)
    /// is what an update of `weight` needs.
    pub(super) fn still_fits(&self, reserved: &Reserved, weight: &NDArray) -> bool {
        let state_fits = reserved
            .state
            .as_ref()
            .map_or(true, |s| self.fits(s, weight));
        let scratch_fits = match (&reserved.scratch, self.scratch_kind(weight)) {
            (Scratch::None, ScratchKind::None) => true,
            (Scratch::Grad32(g), ScratchKind::Grad32) => g.shape() == weight.shape(),
            (Scratch::Lamb { g, .. }, ScratchKind::Lamb(dtype)) => {
                g.shape() == weight.shape() && g.dtype() == dtype
            }
            _ => false,
        };
        state_fits && scratch_fits
    }

    fn scratch_kind(&self, weight: &NDArray) -> ScratchKind {
        let master = self.uses_master_copy(weight);
        match self.class {
            Class::Lamb { .. } => {
                ScratchKind::Lamb(if master { DType::F32 } else { weight.dtype() })
            }
            Class::Sgd { .. } | Class::Nag { .. } => ScratchKind::None,
            _ if master => ScratchKind::Grad32,
            _ => ScratchKind::None,
        }
    }

    /// A key's first state, zero-filled: `weight32`/`weight_copy` get the weight's values
    /// when the state is first used ([`Optimizer::first_use`]). As MXNet's `create_state`,
    /// a row_sparse weight's states are row_sparse (SGD's and Adam's with `lazy_update`
    /// only), so that its sparse updates are lazy; they store every row from the start, as
    /// their first update would make them do.
    pub(super) fn new_state(&self, weight: &NDArray) -> Result<Vec<(&'static str, NDArray)>> {
        let sparse = weight.storage() == Storage::RowSparse;
        let master = self.uses_master_copy(weight);
        let mut arrays = Vec::new();
        for (name, float32) in self.class.state_layout(master) {
            let dtype = if float32 { DType::F32 } else { weight.dtype() };
            let copies_weight = name == "weight32" || name == "weight_copy";
            let a = if sparse && (copies_weight || self.class.lazy_update()) {
                let rows = weight.shape().0[0];
                NDArray::new_sparse(
                    Storage::RowSparse,
                    weight.shape().clone(),
                    dtype,
                    weight.context(),
                    &[(DType::I64, rows)],
                )?
            } else {
                NDArray::new(weight.shape().clone(), dtype, weight.context())?
            };
            arrays.push((name, a));
        }
        Ok(arrays)
    }

    /// Gives a key's new state the weight's values where MXNet's state copies the weight.
    pub(super) fn first_use(
        &self,
        state: &[(&'static str, NDArray)],
        weight: &NDArray,
    ) -> Result<()> {
        for (name, a) in state {
            if *name == "weight32" || *name == "weight_copy" {
                a.assign_value(weight)?;
            }
        }
        Ok(())
    }
}

enum ScratchKind {
    None,
    Grad32,
    /// LAMB's scratch, of this dtype.
    Lamb(DType),
}
