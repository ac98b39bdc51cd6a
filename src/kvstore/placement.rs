//! Where the `device` store keeps each key's merge buffer, which is the context its
//! updater's `recv` reports (reference §3.4, `CommDevice::InitMergeBuffer`).
//!
//! MXNet places every key's buffer when the store first sums several arrays of one key:
//! the devices are those arrays' (one per device id), the keys are taken largest first
//! (in init order among equals), and each goes to the device holding the fewest elements
//! so far, the first such device on ties. Keys initialised afterwards are placed the same
//! way when they are initialised.

use std::cmp::Reverse;
use std::collections::HashMap;

use crate::ndarray::{Context, NDArray};

#[derive(Default)]
pub(super) struct Placement {
    /// Keys and their element counts, in init order, until the devices are known.
    pending: Vec<(i32, usize)>,
    /// The devices and the elements placed on each, in the order first seen.
    devices: Vec<(Context, usize)>,
    placed: HashMap<i32, Context>,
}

impl Placement {
    /// Records an initialised key.
    pub fn register(&mut self, key: i32, size: usize) {
        if self.devices.is_empty() {
            self.pending.push((key, size));
        } else {
            self.place(key, size);
        }
    }

    /// The context of `key`'s merge buffer for a push of `sources` (two or more arrays).
    pub fn context(&mut self, key: i32, sources: &[&NDArray]) -> Option<Context> {
        if self.devices.is_empty() {
            for ctx in sources.iter().map(|s| s.context()) {
                match self
                    .devices
                    .iter_mut()
                    .find(|(d, _)| d.dev_id == ctx.dev_id)
                {
                    Some((d, _)) => *d = ctx,
                    None => self.devices.push((ctx, 0)),
                }
            }
            let mut keys = std::mem::take(&mut self.pending);
            keys.sort_by_key(|&(_, size)| Reverse(size));
            for (key, size) in keys {
                self.place(key, size);
            }
        }
        self.placed.get(&key).copied()
    }

    fn place(&mut self, key: i32, size: usize) {
        if let Some((ctx, load)) = self.devices.iter_mut().min_by_key(|(_, load)| *load) {
            *load += size;
            self.placed.insert(key, *ctx);
        }
    }
}
