//! The updater: what a store does with a key's merged value when it does not simply
//! assign it (reference §3.4 step 3).

use crate::error::Result;
use crate::ndarray::NDArray;

/// A key as an updater sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKey<'a> {
    /// A key of an int-keyed store.
    Int(i32),
    /// A key of a string-keyed store (its bytes, as given), and its registration index
    /// (0, 1, 2 … in the order the keys were first initialised), which MXNet hands to int
    /// updaters.
    Str { name: &'a [u8], index: i32 },
}

impl UpdateKey<'_> {
    /// The store's internal int key: the int key itself, or a string key's index.
    pub fn int(&self) -> i32 {
        match *self {
            UpdateKey::Int(key) => key,
            UpdateKey::Str { index, .. } => index,
        }
    }
}

/// Applies a pushed value to a key's stored value, on the thread that pushed.
///
/// `recv` is the merged value: the sum of the arrays pushed for `key` in one call (or the
/// one pushed array itself); `local` is a view of the stored value. Whatever the updater
/// writes into `local` becomes the stored value. An updater may push to and pull from any
/// store, including this one; updaters of different keys run at the same time.
///
/// Any `Fn(UpdateKey, NDArray, NDArray)` closure is an updater:
///
/// ```
/// use mxkv::kvstore::{KVStore, Keys, UpdateKey};
/// use mxkv::ndarray::{Context, DType, NDArray, Shape};
///
/// let kv = KVStore::create("local")?;
/// let weight = NDArray::new(Shape(vec![3]), DType::F32, Context::cpu(0))?;
/// kv.init(Keys::Int(&[7]), &[weight.clone()])?;
/// // Plain SGD with learning rate 0.5: local -= 0.5 * recv.
/// kv.set_updater(|_key: UpdateKey<'_>, recv: NDArray, local: NDArray| {
///     let grad: Vec<f32> = bytemuck::cast_slice(&recv.to_bytes().unwrap()).to_vec();
///     local
///         .write(|w| {
///             let w: &mut [f32] = bytemuck::cast_slice_mut(w);
///             for (w, g) in w.iter_mut().zip(grad) {
///                 *w -= 0.5 * g;
///             }
///         })
///         .unwrap();
/// });
/// let grad = NDArray::new(Shape(vec![3]), DType::F32, Context::cpu(0))?;
/// grad.copy_from_bytes(bytemuck::cast_slice(&[2.0f32, 4.0, 6.0]), 3)?;
/// kv.push(Keys::Int(&[7, 7]), &[grad.clone(), grad])?; // two devices: recv = 2 × grad
/// kv.pull(Keys::Int(&[7]), &[weight.clone()], true)?;
/// assert_eq!(weight.to_bytes()?, bytemuck::cast_slice(&[-2.0f32, -4.0, -6.0]));
/// # Ok::<(), mxkv::error::Error>(())
/// ```
pub trait Updater: Send + Sync {
    /// Whether this updater can update `key`, whose stored value is `stored`. A push asks
    /// for every key it will update before it changes any, so that an updater's refusal
    /// fails the push whole. The default accepts every key.
    fn check(&self, _key: UpdateKey<'_>, _stored: &NDArray) -> Result<()> {
        Ok(())
    }

    /// Applies `recv` to `local` (a view of the stored value). An error fails the push with
    /// its message; the keys updated before it in the same push stay updated, so what can
    /// be known beforehand belongs in [`Updater::check`].
    fn update(&self, key: UpdateKey<'_>, recv: NDArray, local: NDArray) -> Result<()>;
}

impl<F> Updater for F
where
    F: Fn(UpdateKey<'_>, NDArray, NDArray) + Send + Sync,
{
    fn update(&self, key: UpdateKey<'_>, recv: NDArray, local: NDArray) -> Result<()> {
        self(key, recv, local);
        Ok(())
    }
}
