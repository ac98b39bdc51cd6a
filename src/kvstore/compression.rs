//! 2-bit gradient compression (reference §3.8): the setting, read and checked as MXNet
//! 1.9.1 reads it, and the state of a store that compresses — for each key, one residual
//! per pushed array slot, kept from push to push.
//!
//! A compressing push quantises each pushed array with its slot's residual into packed
//! words ([`twobit`]), then forms the key's sum from the packed words alone: the first
//! slot's values, then each further slot's added in slot order, as MXNet's `CommDevice`
//! sums its dequantised copies. Only float32 keys can be compressed.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::param_float;
use super::twobit;
use crate::error::{Error, Result};
use crate::ndarray::{DType, NDArray, Storage};

/// The setting of `SetGradientCompression`: 1.9.1 knows one type, `2bit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientCompression {
    /// The 2-bit quantisation threshold (> 0; may be +inf).
    pub threshold: f32,
}

/// MXNet's `CompressionType` codes, as they travel in [`GradientCompression::encode`].
const TYPE_NONE: &str = "0";
const TYPE_TWO_BIT: &str = "1";

impl GradientCompression {
    /// Reads `(name, value)` pairs as MXNet's `GradientCompressionParam` does: in order, a
    /// later pair overriding an earlier one; `threshold` (default 0.5) read as dmlc reads
    /// a float, its errors reported at once; unknown names ignored; then `type` required,
    /// `threshold > 0`, and `type` must be `2bit` — checked in that order, with MXNet's
    /// messages.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<GradientCompression> {
        let refuse = |msg: String| Error::GradientCompression(msg);
        let mut kind = None;
        let mut threshold = 0.5f32;
        for (name, value) in params {
            match name {
                "type" => kind = Some(value),
                "threshold" => {
                    threshold =
                        param_float::parse(value).map_err(|why| refuse(why.message(name, value)))?
                }
                _ => {}
            }
        }
        let kind = kind
            .ok_or_else(|| refuse("Required parameter type of string is not presented".into()))?;
        if threshold.is_nan() || threshold <= 0.0 {
            return Err(refuse(format!(
                "Check failed: params.threshold > 0 ({} vs. 0) : threshold must be greater than 0",
                param_float::display(threshold)
            )));
        }
        if kind != "2bit" {
            return Err(refuse(format!(
                "Unknown type for gradient compression {kind}"
            )));
        }
        Ok(GradientCompression { threshold })
    }

    /// The setting as MXNet's workers send it to servers (`EncodeParams`): the type code,
    /// a comma and the threshold with six decimals, e.g. `1,0.500000`.
    pub fn encode(&self) -> String {
        format!("{TYPE_TWO_BIT},{:.6}", self.threshold)
    }

    /// Reads [`encode`](Self::encode)'s form; `0` (MXNet's "none") gives `None`.
    pub fn decode(text: &str) -> Result<Option<GradientCompression>> {
        let bad =
            || Error::GradientCompression(format!("bad gradient compression setting '{text}'"));
        let (kind, threshold) = text.split_once(',').unwrap_or((text, ""));
        match kind {
            TYPE_NONE => Ok(None),
            TYPE_TWO_BIT => {
                let threshold: f32 = threshold.parse().map_err(|_| bad())?;
                if threshold.is_nan() || threshold <= 0.0 {
                    return Err(bad());
                }
                Ok(Some(GradientCompression { threshold }))
            }
            _ => Err(bad()),
        }
    }
}

impl GradientCompression {
    /// The values that `packed` (from [`Compressor::quantize`]) carries, written into
    /// `dst` or, with `add`, added onto it: a server's sum of its workers' pushes. `dst`
    /// has as many values as were quantised.
    pub fn dequantize_into(&self, packed: &[u32], dst: &mut [f32], add: bool) -> Result<()> {
        if packed.len() != twobit::packed_len(dst.len()) {
            return Err(Error::GradientCompression(format!(
                "{} packed words cannot be dequantised into {} values",
                packed.len(),
                dst.len()
            )));
        }
        if add {
            twobit::dequantize_add(packed, self.threshold, dst);
        } else {
            twobit::dequantize(packed, self.threshold, dst);
        }
        Ok(())
    }
}

/// One pushed array slot of a key: its residual and the packed words of its last push.
struct Slot {
    residual: Vec<f32>,
    packed: Vec<u32>,
}

/// The compression of a store: its setting (none until set; MXNet has no way back to
/// none) and the slots of every key pushed since.
#[derive(Default)]
pub struct Compressor {
    setting: RwLock<Option<GradientCompression>>,
    keys: Mutex<HashMap<i32, Arc<Mutex<Vec<Slot>>>>>,
}

impl Compressor {
    /// Sets or changes the setting. Residuals are kept: a changed threshold applies to
    /// what they hold from then on, as in MXNet.
    pub fn set(&self, setting: GradientCompression) {
        *self.setting.write() = Some(setting);
    }

    pub fn setting(&self) -> Option<GradientCompression> {
        *self.setting.read()
    }

    /// Checks, before a push changes anything, that `sources` can be compressed into a key
    /// holding `stored`, and makes sure the key has a zeroed residual for each of them (a
    /// slot first pushed now starts at zero; memory that cannot be had fails the push).
    pub fn prepare(&self, key: i32, stored: &NDArray, sources: &[&NDArray]) -> Result<()> {
        if stored.dtype() != DType::F32 {
            return Err(Error::GradientCompression(format!(
                "Gradient compression is only supported for float32 type of parameters: key {key} is {}",
                stored.dtype().name()
            )));
        }
        if sources.iter().any(|s| s.storage() != Storage::Dense) {
            return Err(Error::GradientCompression(
                "Gradient compression for row sparse storage type is not supported".into(),
            ));
        }
        let n = stored.size();
        let slots = self.slots(key);
        let mut slots = slots.lock();
        if slots.len() < sources.len() {
            let add = sources.len() - slots.len();
            slots
                .try_reserve(add)
                .map_err(|_| Error::OutOfMemory(add))?;
            for _ in 0..add {
                slots.push(Slot {
                    residual: zeroed(n)?,
                    packed: zeroed(twobit::packed_len(n))?,
                });
            }
        }
        Ok(())
    }

    /// `dst = Σ dequantise(quantise(sources[i], residual of slot i))`, slot by slot, after
    /// [`prepare`](Self::prepare) passed for the same arrays. Each source is read once,
    /// under its own lock; `dst` is written once, from the packed words, so a source may
    /// be `dst` itself.
    pub fn reduce_into(&self, key: i32, sources: &[&NDArray], dst: &NDArray) -> Result<()> {
        let setting = self.in_force()?;
        let slots = self.slots(key);
        let mut slots = slots.lock();
        for (slot, source) in slots.iter_mut().zip(sources) {
            quantize_slot(slot, source, setting.threshold)?;
        }
        dst.write(|out| {
            let out: &mut [f32] = bytemuck::cast_slice_mut(out);
            for (i, slot) in slots[..sources.len()].iter().enumerate() {
                if i == 0 {
                    twobit::dequantize(&slot.packed, setting.threshold, out);
                } else {
                    twobit::dequantize_add(&slot.packed, setting.threshold, out);
                }
            }
        })
    }

    /// A distributed worker's push of one key's merged value (MXNet's `PushCompressed`):
    /// `merged` quantised with the key's own residual, as the packed words to send. The
    /// receiver reads them with [`GradientCompression::dequantize_into`].
    pub fn quantize(&self, key: i32, merged: &NDArray) -> Result<Vec<u32>> {
        let setting = self.in_force()?;
        self.prepare(key, merged, &[merged])?;
        let slots = self.slots(key);
        let mut slots = slots.lock();
        quantize_slot(&mut slots[0], merged, setting.threshold)?;
        Ok(slots[0].packed.clone())
    }

    fn in_force(&self) -> Result<GradientCompression> {
        self.setting()
            .ok_or_else(|| Error::invalid("no gradient compression is set"))
    }

    fn slots(&self, key: i32) -> Arc<Mutex<Vec<Slot>>> {
        self.keys.lock().entry(key).or_default().clone()
    }
}

/// Quantises `source` (converted to float32 if it is not) with the slot's residual into
/// the slot's packed words.
fn quantize_slot(slot: &mut Slot, source: &NDArray, threshold: f32) -> Result<()> {
    let quantize = |grad: &[u8]| {
        twobit::quantize(
            bytemuck::cast_slice(grad),
            &mut slot.residual,
            threshold,
            &mut slot.packed,
        )
    };
    if source.dtype() == DType::F32 {
        source.read(quantize)
    } else {
        let converted = NDArray::new(source.shape().clone(), DType::F32, source.context())?;
        converted.assign_sum(&[source])?;
        converted.read(quantize)
    }
}

/// `n` zeros, or an out-of-memory error instead of an abort.
fn zeroed<T: Default + Clone>(n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::OutOfMemory(n * std::mem::size_of::<T>()))?;
    v.resize(n, T::default());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ndarray::{Context, Shape};

    fn params(p: &[(&str, &str)]) -> Result<GradientCompression> {
        GradientCompression::parse(p.iter().copied())
    }

    fn msg(p: &[(&str, &str)]) -> String {
        params(p).unwrap_err().to_string()
    }

    #[test]
    fn reads_settings_as_mxnet() {
        assert_eq!(params(&[("type", "2bit")]).unwrap().threshold, 0.5);
        let g = params(&[("threshold", "0.25"), ("type", "2bit"), ("other", "x")]).unwrap();
        assert_eq!(g.threshold, 0.25);
        // A later pair overrides an earlier one.
        assert_eq!(
            params(&[("type", "x"), ("type", "2bit")])
                .unwrap()
                .threshold,
            0.5
        );
        let g = params(&[("threshold", "0"), ("threshold", "0.75"), ("type", "2bit")]).unwrap();
        assert_eq!(g.threshold, 0.75);
        assert_eq!(
            params(&[("type", "2bit"), ("threshold", "inf")])
                .unwrap()
                .threshold,
            f32::INFINITY
        );
    }

    #[test]
    fn refuses_settings_with_mxnets_messages() {
        assert_eq!(
            msg(&[("threshold", "1")]),
            "Required parameter type of string is not presented"
        );
        assert_eq!(
            msg(&[]),
            "Required parameter type of string is not presented"
        );
        assert_eq!(
            msg(&[(" type", "2bit")]),
            "Required parameter type of string is not presented"
        );
        assert_eq!(
            msg(&[("type", "2bit"), ("threshold", "0")]),
            "Check failed: params.threshold > 0 (0 vs. 0) : threshold must be greater than 0"
        );
        assert_eq!(
            msg(&[("type", "2bit"), ("threshold", "-1.5e-7")]),
            "Check failed: params.threshold > 0 (-1.5e-07 vs. 0) : threshold must be greater than 0"
        );
        assert!(msg(&[("type", "2bit"), ("threshold", "nan")]).contains("(nan vs. 0)"));
        assert!(msg(&[("type", "2bit"), ("threshold", "-")]).contains("(-0 vs. 0)"));
        assert_eq!(
            msg(&[("type", "2bit"), ("threshold", "abc")]),
            "Invalid Parameter format for threshold expect float but value='abc'"
        );
        assert_eq!(
            msg(&[("type", "2bit"), ("threshold", "0.5abc")]),
            "Some trailing characters could not be parsed: 'abc'"
        );
        assert_eq!(
            msg(&[("type", "2bit"), ("threshold", "1e40")]),
            "Out of range value for threshold, value='1e40'"
        );
        assert_eq!(
            msg(&[("type", "1bit")]),
            "Unknown type for gradient compression 1bit"
        );
        assert_eq!(
            msg(&[("type", "2BIT")]),
            "Unknown type for gradient compression 2BIT"
        );
        assert_eq!(
            msg(&[("type", "2bit "),]),
            "Unknown type for gradient compression 2bit "
        );
        // The order of MXNet's checks: a bad float first, then the missing type, then the
        // threshold, then the type.
        assert!(msg(&[("threshold", "abc")]).contains("Invalid Parameter format"));
        assert!(
            msg(&[("type", "xx"), ("threshold", "0")]).contains("threshold must be greater than 0")
        );
        assert!(
            msg(&[("threshold", "abc"), ("threshold", "0.5"), ("type", "2bit")])
                .contains("value='abc'")
        );
    }

    #[test]
    fn encodes_as_mxnet_sends_it_to_servers() {
        let g = params(&[("type", "2bit")]).unwrap();
        assert_eq!(g.encode(), "1,0.500000");
        assert_eq!(GradientCompression::decode("1,0.500000").unwrap(), Some(g));
        assert_eq!(
            GradientCompression::decode("1,0.25")
                .unwrap()
                .unwrap()
                .threshold,
            0.25
        );
        assert_eq!(GradientCompression::decode("0").unwrap(), None);
        assert!(GradientCompression::decode("1,x").is_err());
        assert!(GradientCompression::decode("1,0").is_err());
        assert!(GradientCompression::decode("7,0.5").is_err());
    }

    fn filled(values: &[f32]) -> NDArray {
        NDArray::from_slice(&[values.len()], values, Context::cpu(0)).unwrap()
    }

    fn values(a: &NDArray) -> Vec<f32> {
        a.to_vec().unwrap()
    }

    fn push(c: &Compressor, key: i32, sources: &[&NDArray], dst: &NDArray) -> Vec<f32> {
        c.prepare(key, dst, sources).unwrap();
        c.reduce_into(key, sources, dst).unwrap();
        values(dst)
    }

    #[test]
    fn residuals_are_kept_per_key_and_per_slot() {
        // MXNet 1.9.1, 'device' store, threshold 0.5, values [0.3,-0.3,0.6,-1.2] and
        // [0.2,0.4,-0.6,2.0] pushed together to key 1 four times, and the first alone to
        // key 2 three times.
        let c = Compressor::default();
        c.set(params(&[("type", "2bit")]).unwrap());
        let (a, b) = (
            filled(&[0.3, -0.3, 0.6, -1.2]),
            filled(&[0.2, 0.4, -0.6, 2.0]),
        );
        let (k1, k2) = (filled(&[0.0; 4]), filled(&[0.0; 4]));
        let k1_sums: Vec<Vec<f32>> = (0..4).map(|_| push(&c, 1, &[&a, &b], &k1)).collect();
        assert_eq!(
            k1_sums,
            [
                [0.0, 0.0, 0.0, 0.0],
                [0.5, 0.0, 0.0, 0.0],
                [0.5, 0.5, 0.0, 0.0],
                [0.5, 0.0, 0.0, 0.0]
            ]
        );
        let k2_sums: Vec<Vec<f32>> = (0..3).map(|_| push(&c, 2, &[&a], &k2)).collect();
        assert_eq!(
            k2_sums,
            [
                [0.0, 0.0, 0.5, -0.5],
                [0.5, -0.5, 0.5, -0.5],
                [0.0, 0.0, 0.5, -0.5]
            ]
        );
    }

    #[test]
    fn a_later_push_with_more_arrays_starts_their_residuals_at_zero() {
        let c = Compressor::default();
        c.set(params(&[("type", "2bit")]).unwrap());
        let (g, dst) = (filled(&[0.3]), filled(&[0.0]));
        assert_eq!(push(&c, 0, &[&g], &dst), [0.0]);
        // Slot 0 holds 0.3 and sends 0.5; slot 1 is new and sends nothing.
        assert_eq!(push(&c, 0, &[&g, &g], &dst), [0.5]);
        // Slot 0: 0.1 + 0.3; slot 1: 0.6; slot 2: 0.3.
        assert_eq!(push(&c, 0, &[&g, &g, &g], &dst), [0.5]);
    }

    #[test]
    fn a_changed_threshold_applies_to_the_kept_residuals() {
        let c = Compressor::default();
        c.set(params(&[("type", "2bit")]).unwrap());
        let (g, dst) = (filled(&[0.3]), filled(&[0.0]));
        assert_eq!(push(&c, 0, &[&g], &dst), [0.0]);
        c.set(params(&[("type", "2bit"), ("threshold", "0.2")]).unwrap());
        for _ in 0..3 {
            assert_eq!(push(&c, 0, &[&g], &dst), [0.2]);
        }
    }

    #[test]
    fn a_worker_quantises_its_merged_value_and_a_server_sums_the_words() {
        let setting = params(&[("type", "2bit"), ("threshold", "0.5")]).unwrap();
        let workers = [Compressor::default(), Compressor::default()];
        for w in &workers {
            w.set(setting);
        }
        let merged = [filled(&[0.3, -0.6, 0.9]), filled(&[0.3, 0.6, -0.1])];
        let mut server = [9.0f32; 3];
        let mut sums = Vec::new();
        for _ in 0..2 {
            for (i, (w, m)) in workers.iter().zip(&merged).enumerate() {
                let words = w.quantize(7, m).unwrap();
                assert_eq!(words.len(), 1);
                setting.dequantize_into(&words, &mut server, i > 0).unwrap();
            }
            sums.push(server);
        }
        // Worker 0 sends 0, -0.5, 0.5 then 0.5, -0.5, 0.5; worker 1 sends 0, 0.5, 0 then
        // 0.5, 0.5, 0 (each keeps the rest in its own residual).
        assert_eq!(sums, [[0.0, 0.0, 0.5], [1.0, 0.0, 0.5]]);
        let err = setting
            .dequantize_into(&[0], &mut [0.0; 40], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("1 packed words cannot be dequantised into 40 values"));
    }

    #[test]
    fn other_dtypes_convert_into_a_float32_key_and_other_keys_are_refused() {
        let c = Compressor::default();
        c.set(params(&[("type", "2bit")]).unwrap());
        let dst = filled(&[0.0, 0.0]);
        let g64 = NDArray::from_slice(&[2], &[0.75f64, -2.0], Context::cpu(0)).unwrap();
        assert_eq!(push(&c, 3, &[&g64], &dst), [0.5, -0.5]);
        let half = NDArray::new(Shape(vec![2]), DType::F16, Context::cpu(0)).unwrap();
        let err = c.prepare(4, &half, &[&half]).unwrap_err().to_string();
        assert!(err.contains("only supported for float32"), "{err}");
        assert!(err.contains("key 4 is float16"), "{err}");
    }
}
