//! The store's native optimizer's states as named arrays, for MXNet's `.params` files:
//! `<key>:<state>` in MXNet's order, `<key>:count`, `num_update` (and Nadam's
//! `m_schedule`).

use super::class::Class;
use super::composed::NadamSchedule;
use super::updater::{KeyState, Optimizer, Progress};
use crate::error::{escaped, Error, Result};
use crate::ndarray::{Context, DType, NDArray, Shape};

impl Optimizer {
    /// Every key's state as named arrays (`<key>:<state>`, `<key>:count`), and
    /// `num_update` (and Nadam's `m_schedule`), for a `.params` file.
    pub fn states(&self) -> Result<(Vec<NDArray>, Vec<String>)> {
        let progress = self.progress.lock();
        let mut arrays = Vec::new();
        let mut names = Vec::new();
        for (key, state) in &progress.keys {
            for (name, a) in &state.arrays {
                arrays.push(a.deep_copy(a.context())?);
                names.push(format!("{key}:{name}"));
            }
            arrays.push(int64(state.count)?);
            names.push(format!("{key}:count"));
        }
        arrays.push(int64(progress.num_update)?);
        names.push("num_update".to_string());
        if let Some(s) = progress.nadam {
            let a = NDArray::new(Shape(vec![1]), DType::F64, Context::cpu(0))?;
            a.copy_from_bytes(bytemuck::bytes_of(&s.m_schedule), 1)?;
            arrays.push(a);
            names.push("m_schedule".to_string());
        }
        Ok((arrays, names))
    }

    /// Replaces every key's state with `arrays` named as [`Optimizer::states`] names
    /// them; on an error nothing changes.
    pub fn set_states(&self, arrays: &[NDArray], names: &[impl AsRef<[u8]>]) -> Result<()> {
        if arrays.len() != names.len() {
            return Err(Error::Format(
                "optimizer states must be named arrays (<key>:<state>, <key>:count, num_update)"
                    .into(),
            ));
        }
        let mut loaded = Progress {
            nadam: matches!(self.class, Class::Nadam { .. })
                .then_some(NadamSchedule { m_schedule: 1.0 }),
            ..Progress::default()
        };
        let mut num_update = None;
        for (a, name) in arrays.iter().zip(names) {
            // A name that is not UTF-8 is no state's name; escaped, it fails as one.
            let name = escaped(name.as_ref());
            let bad = |why: &str| Error::Format(format!("optimizer state '{name}': {why}"));
            match name.split_once(':') {
                None if name == "num_update" => {
                    num_update = Some(read_int64(a).ok_or_else(|| bad("not one int64"))?)
                }
                None if name == "m_schedule" && loaded.nadam.is_some() => {
                    let v = (a.dtype() == DType::F64 && a.size() == 1)
                        .then(|| a.to_bytes().ok())
                        .flatten()
                        .ok_or_else(|| bad("not one float64"))?;
                    loaded.nadam = Some(NadamSchedule {
                        m_schedule: bytemuck::pod_read_unaligned(&v),
                    });
                }
                None => return Err(bad("unknown name")),
                Some((key, state)) => {
                    let key: i32 = key.parse().map_err(|_| bad("the key is not an int"))?;
                    let entry = loaded.keys.entry(key).or_insert(KeyState {
                        arrays: Vec::new(),
                        count: self.begin_num_update,
                    });
                    if state == "count" {
                        entry.count = read_int64(a).ok_or_else(|| bad("not one int64"))?;
                        continue;
                    }
                    let known = self
                        .class
                        .state_layout(false)
                        .into_iter()
                        .chain(self.class.state_layout(true));
                    let Some((state, _)) = known.into_iter().find(|(n, _)| *n == state) else {
                        return Err(bad(&format!("{} keeps no state of that name", self.name)));
                    };
                    entry.arrays.push((state, a.deep_copy(a.context())?));
                }
            }
        }
        loaded.num_update = num_update.unwrap_or(self.begin_num_update);
        *self.progress.lock() = loaded;
        self.reserved.clear();
        Ok(())
    }
}

fn int64(v: i64) -> Result<NDArray> {
    let a = NDArray::new(Shape(vec![1]), DType::I64, Context::cpu(0))?;
    a.copy_from_bytes(bytemuck::bytes_of(&v), 1)?;
    Ok(a)
}

fn read_int64(a: &NDArray) -> Option<i64> {
    (a.dtype() == DType::I64 && a.size() == 1)
        .then(|| a.to_bytes().ok())
        .flatten()
        .map(|b| bytemuck::pod_read_unaligned(&b))
}
