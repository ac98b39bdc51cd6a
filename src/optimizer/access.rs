//! Writing several arrays at once: an update reads and writes a weight, its gradient and
//! its states together. Each array's memory is locked once, in ascending memory id (the
//! order every multi-array operation of the crate uses, so two of them cannot deadlock);
//! arrays that share memory are refused, since one lock cannot hand out two mutable views.

use crate::error::{Error, Result};

/// The locked arrays so far: their index in the call, and their bytes.
type Held<'a> = Vec<(usize, &'a mut [u8])>;
use crate::ndarray::NDArray;

/// Runs `f` with the bytes of every array, in the order given, all locked for writing.
pub fn write_all<R>(
    arrays: &[&NDArray],
    names: &[&str],
    f: impl FnOnce(&mut [&mut [u8]]) -> R,
) -> Result<R> {
    let mut ids = Vec::with_capacity(arrays.len());
    for (a, name) in arrays.iter().zip(names) {
        let id = a.memory_id().ok_or_else(|| {
            Error::invalid(format!("{name} is an empty array (no shape, no data)"))
        })?;
        if let Some(j) = ids.iter().position(|&other| other == id) {
            return Err(Error::invalid(format!(
                "{name} shares memory with {}: each array of an update must have its own",
                names[j]
            )));
        }
        ids.push(id);
    }
    let mut order: Vec<usize> = (0..arrays.len()).collect();
    order.sort_by_key(|&i| ids[i]);

    let mut f = Some(f);
    let mut result = None;
    nest(
        arrays,
        &order,
        Vec::with_capacity(arrays.len()),
        &mut |mut held| {
            held.sort_by_key(|(i, _)| *i);
            let mut bytes: Vec<&mut [u8]> = held.into_iter().map(|(_, b)| b).collect();
            if let Some(f) = f.take() {
                result = Some(f(&mut bytes));
            }
        },
    )?;
    result.ok_or_else(|| Error::invalid("no array was given"))
}

/// Takes the next lock of `order` and recurses with its bytes; the innermost call runs
/// `f` with all of them.
fn nest(
    arrays: &[&NDArray],
    order: &[usize],
    held: Held<'_>,
    f: &mut dyn FnMut(Held<'_>),
) -> Result<()> {
    match order.split_first() {
        None => {
            f(held);
            Ok(())
        }
        Some((&i, rest)) => arrays[i].write(|bytes| {
            let mut held: Held<'_> = held;
            held.push((i, bytes));
            nest(arrays, rest, held, f)
        })?,
    }
}
