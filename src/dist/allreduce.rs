//! Serverless `dist_sync` (spec §6, beyond MXNet): with `DMLC_NUM_SERVER=0` each push is
//! an allreduce among the workers, and every worker applies the sum itself, so all keep
//! identical replicas — Horovod's model behind MXNet's API.
//!
//! The keys of one push call are fused: each key's merged value is summed straight into
//! its place in one buffer per element type, the buffers are allreduced in place,
//! together, and each key's sum is copied from its place into its stored value (with no
//! updater) or handed out as a view of it, so that a call of 1000 small keys costs one
//! allreduce, not 1000. A key alone in its element type, pushed as one array, travels
//! from that array's memory, and with no updater its sum lands straight in the stored
//! value: then the allreduce is the only pass over the data.

use std::borrow::Cow;
use std::time::Instant;

use parking_lot::Mutex;
use smallvec::SmallVec;

use super::arena::{self, Arenas};
use super::net::{lost_peer, timeout, Net, NOT_ANSWERING};
use super::shared::{Shared, Silent, Spans};
use crate::error::{Error, Result};
use crate::ffi::mpi::{can_allreduce_in_place, Comm, Prim, Request};
use crate::ffi::shared_memory::with_bytes;
use crate::kvstore::{Entry, Found, KeyGuard, KeyPush, Merged};
use crate::ndarray::{Context, DType, NDArray, Shape};

/// The element type a dtype is summed in: its own where MPI adds it, else float64 (float16,
/// bfloat16 and the like travel widened).
pub(super) fn prim(dtype: DType) -> (Prim, DType) {
    match dtype {
        DType::F32 => (Prim::F32, dtype),
        DType::I32 => (Prim::I32, dtype),
        DType::I64 => (Prim::I64, dtype),
        DType::I8 => (Prim::I8, dtype),
        DType::U8 => (Prim::U8, dtype),
        _ => (Prim::F64, DType::F64),
    }
}

/// How many buffers a store keeps.
const KEPT_BUFFERS: usize = 4;

/// The buffers of a store's allreduces, used again once no sum handed out refers to them
/// (so that large pushes do not pay for fresh memory each time).
#[derive(Default)]
pub struct Buffers(Mutex<Vec<NDArray>>);

impl Buffers {
    /// A one-dimensional buffer of `len` elements of `dtype` that no one else uses.
    fn take(&self, dtype: DType, len: usize) -> Result<NDArray> {
        let mut kept = self.0.lock();
        let free = kept
            .iter()
            .position(|b| b.dtype() == dtype && b.size() >= len && b.is_sole_view());
        let buffer = match free {
            Some(i) => kept.swap_remove(i),
            None => NDArray::new(Shape(vec![len as i64]), dtype, Context::cpu(0))?,
        };
        if kept.len() >= KEPT_BUFFERS {
            let smallest = (0..kept.len()).min_by_key(|&i| kept[i].capacity());
            kept.swap_remove(smallest.expect("a full list"));
        }
        kept.push(buffer.clone());
        buffer.slice(0, len)
    }
}

/// A serverless store's memory for its sums: buffers, and the blocks of its stored values.
#[derive(Default)]
pub struct Memory {
    pub buffers: Buffers,
    pub arenas: Arenas,
}

/// The keys summed in one element type: where each starts in the buffers.
struct Group {
    dtype: DType,
    prim: Prim,
    /// (index in the call, first element)
    keys: Vec<(usize, usize)>,
    len: usize,
}

/// Where a group's sum is made.
enum Target<'e> {
    /// The keys' stored values (one key's, or a block of them in order), under the keys'
    /// locks until the sum is in: nothing is left to do after.
    Stored {
        into: NDArray,
        _whole: Vec<KeyGuard<'e>>,
    },
    /// A buffer holding the group's sum (the send buffer, when summed in place).
    Buffer(NDArray),
}

/// A group's allreduce: what it sends from, and where its sum is made.
struct Plan<'e> {
    send: Option<NDArray>,
    /// Through shared memory: the keys' arrays, read where they are, in the group's order
    /// (instead of `send`, or of packing them first).
    gather: Vec<Cow<'e, NDArray>>,
    target: Target<'e>,
}

/// The merged value when it is one dense array of `dtype`, whose bytes are the sum's.
fn single_dense<'m>(merged: &'m Merged<'_>, dtype: DType) -> Option<&'m NDArray> {
    let only = match merged {
        Merged::Sources {
            sources: [only], ..
        } => *only,
        Merged::Array(only) => only,
        _ => return None,
    };
    (only.dtype() == dtype && !only.is_sparse()).then_some(only)
}

/// The view of `buffer` from element `at`, shaped like `like` (a key's place in a group).
fn place(buffer: &NDArray, at: usize, like: &NDArray) -> Result<NDArray> {
    buffer
        .slice(at, at + like.size())?
        .reshape(&like.shape().0, false)
}

/// Each key's merged value, when every one is a plain array of the group's element type
/// and size outside `target`'s memory: the arrays a sum through shared memory reads where
/// they are (taken from `merged`).
fn gathered<'e>(
    g: &Group,
    merged: &mut [Option<Merged<'e>>],
    found: &[&Found],
    target: &NDArray,
) -> Option<Vec<Cow<'e, NDArray>>> {
    let mut arrays = Vec::with_capacity(g.keys.len());
    for &(i, _) in &g.keys {
        let merged = merged[i].as_ref()?;
        let array = single_dense(merged, g.dtype)?;
        if array.size() != found[i].value.size() || array.memory_id() == target.memory_id() {
            return None;
        }
        // The caller's array itself, when the push gave one (no count to keep).
        arrays.push(match merged {
            Merged::Sources {
                sources: [only], ..
            } => Cow::Borrowed(*only),
            _ => Cow::Owned(array.clone()),
        });
    }
    for &(i, _) in &g.keys {
        merged[i] = None;
    }
    Some(arrays)
}

/// Sums each key's merged value into its place in `send` (a buffer of the group's element
/// type): plain arrays by one copy each under one lock of the buffer, the rest (several
/// arrays, other element types) through views.
fn pack(
    g: &Group,
    merged: &mut [Option<Merged<'_>>],
    found: &[&Found],
    send: &NDArray,
) -> Result<()> {
    let width = g.dtype.size();
    let mut rest = Vec::new();
    send.write(|dst| -> Result<()> {
        for &(i, at) in &g.keys {
            let value = merged[i].take().expect("each key once");
            let bytes = at * width..(at + found[i].value.size()) * width;
            match single_dense(&value, g.dtype) {
                Some(_) if bytes.is_empty() => {}
                // A value in `send`'s own memory (init packing stored values into their
                // block): in its place already, or copied through a view. (No lock of that
                // memory may be taken here: `send`'s is held.)
                Some(array) if array.memory_id() == send.memory_id() => {
                    if !array.same_memory(&found[i].value) {
                        rest.push((i, at, value));
                    }
                }
                Some(array) => array.read(|src| dst[bytes].copy_from_slice(src))?,
                None => rest.push((i, at, value)),
            }
        }
        Ok(())
    })??;
    for (i, at, value) in rest {
        if found[i].value.size() > 0 {
            value.assign_to(&place(send, at, &found[i].value)?)?;
        }
    }
    Ok(())
}

/// Copies each key's sum from the group's summed buffer into its stored value, under the
/// key's lock; a key it cannot do this for (its lock would deadlock, its value changed
/// storage type, it is widened) gets the sum as a view, for the store to apply.
fn unpack(
    g: &Group,
    entries: &[&Entry],
    sum: &NDArray,
    sums: &mut [Option<NDArray>],
) -> Result<()> {
    let width = g.dtype.size();
    let mut rest = Vec::new();
    sum.read(|src| -> Result<()> {
        for &(i, at) in &g.keys {
            let guard = entries[i].lock();
            let stored = entries[i].stored();
            if guard.is_none() || stored.dtype() != g.dtype || stored.is_sparse() {
                rest.push((i, at, stored));
                continue;
            }
            let bytes = at * width..(at + stored.size()) * width;
            if !bytes.is_empty() {
                stored.write(|dst| dst.copy_from_slice(&src[bytes]))?;
            }
        }
        Ok(())
    })??;
    for (i, at, stored) in rest {
        sums[i] = Some(sum_at(g, sum, at, &stored)?);
    }
    Ok(())
}

/// A key's sum, from its place in the group's summed buffer, typed like `stored`.
fn sum_at(g: &Group, sum: &NDArray, at: usize, stored: &NDArray) -> Result<NDArray> {
    Ok(match stored.size() {
        0 => stored.like()?,
        _ if stored.dtype() == g.dtype => place(sum, at, stored)?,
        _ => {
            let copy = stored.like()?;
            copy.assign_sum(&[&place(sum, at, stored)?])?;
            copy
        }
    })
}

/// The group's keys' locks, when every one can be had and their stored values are still
/// the ones `found` (not replaced meanwhile by a value of another storage type).
fn lock_all<'e>(g: &Group, found: &[&Found], entries: &[&'e Entry]) -> Option<Vec<KeyGuard<'e>>> {
    let mut whole = Vec::with_capacity(g.keys.len());
    for &(i, _) in &g.keys {
        whole.push(entries[i].lock()?);
        if !entries[i].unchanged_since(found[i]) {
            return None;
        }
    }
    Some(whole)
}

/// A group whose stored values lie in order in one block ([`arena`]), when the store
/// `assigns`: packed straight into them and summed there in place, under every key's lock.
fn in_block<'e>(
    g: &Group,
    merged: &mut [Option<Merged<'e>>],
    found: &[&Found],
    entries: &[&'e Entry],
    memory: &Memory,
    shared: bool,
) -> Result<Option<Plan<'e>>> {
    if !arena::contiguous(g.dtype, g.keys.iter().map(|&(i, _)| &found[i].value)) {
        return Ok(None);
    }
    let Some(block) = memory.arenas.span(&found[g.keys[0].0].value, g.len) else {
        return Ok(None);
    };
    let Some(whole) = lock_all(g, found, entries) else {
        return Ok(None);
    };
    let target = Target::Stored {
        into: block.clone(),
        _whole: whole,
    };
    if shared {
        if let Some(gather) = gathered(g, merged, found, &block) {
            return Ok(Some(Plan {
                send: None,
                gather,
                target,
            }));
        }
    }
    let send = match can_allreduce_in_place() || shared {
        true => None,
        false => Some(memory.buffers.take(g.dtype, g.len)?),
    };
    pack(g, merged, found, send.as_ref().unwrap_or(&block))?;
    Ok(Some(Plan {
        send,
        gather: Vec::new(),
        target,
    }))
}

/// How a group is allreduced. A key alone in its group, pushed as one plain array, is sent
/// from that array's memory: into its stored value when the store `assigns` (and the
/// key's lock can be had), else into a buffer. Keys whose stored values lie in a block are
/// summed there ([`in_block`]) when the store assigns. Other groups are packed into a
/// buffer summed in place.
fn plan<'e>(
    g: &Group,
    merged: &mut [Option<Merged<'e>>],
    found: &[&Found],
    entries: &[&'e Entry],
    assigns: bool,
    memory: &Memory,
    shared: bool,
) -> Result<Plan<'e>> {
    let buffers = &memory.buffers;
    if let [(i, _)] = g.keys[..] {
        let sole = merged[i]
            .as_ref()
            .and_then(|m| single_dense(m, g.dtype))
            .filter(|a| a.size() == g.len && g.len > 0)
            .cloned();
        if let Some(source) = sole {
            let in_place = source.same_memory(&found[i].value);
            let guard = match assigns && !found[i].value.is_sparse() {
                true => entries[i].lock(),
                false => None,
            };
            if let Some(guard) = guard {
                if !in_place || can_allreduce_in_place() {
                    merged[i] = None;
                    return Ok(Plan {
                        send: (!in_place).then_some(source),
                        gather: Vec::new(),
                        target: Target::Stored {
                            into: entries[i].stored(),
                            _whole: vec![guard],
                        },
                    });
                }
            }
            merged[i] = None;
            return Ok(Plan {
                send: Some(source),
                gather: Vec::new(),
                target: Target::Buffer(buffers.take(g.dtype, g.len)?),
            });
        }
    }
    if assigns {
        if let Some(plan) = in_block(g, merged, found, entries, memory, shared)? {
            return Ok(plan);
        }
    }
    let send = buffers.take(g.dtype, g.len)?;
    if shared {
        if let Some(gather) = gathered(g, merged, found, &send) {
            return Ok(Plan {
                send: None,
                gather,
                target: Target::Buffer(send),
            });
        }
    }
    pack(g, merged, found, &send)?;
    Ok(match can_allreduce_in_place() || shared {
        true => Plan {
            send: None,
            gather: Vec::new(),
            target: Target::Buffer(send),
        },
        false => Plan {
            send: Some(send),
            gather: Vec::new(),
            target: Target::Buffer(buffers.take(g.dtype, g.len)?),
        },
    })
}

impl Plan<'_> {
    fn into(&self) -> &NDArray {
        match &self.target {
            Target::Stored { into, .. } => into,
            Target::Buffer(buffer) => buffer,
        }
    }

    fn start(&self, comm: &Comm, g: &Group) -> Result<Request> {
        match &self.send {
            Some(send) => comm.allreduce_sum(send, self.into(), g.prim),
            None => comm.allreduce_in_place(self.into(), g.prim),
        }
    }

    /// The allreduce through the workers' shared memory, done before this returns.
    fn run_shared(&self, shared: &Shared, g: &Group, deadline: Instant) -> Result<Option<Silent>> {
        let len = self.into().nbytes();
        if len != g.len * g.dtype.size() {
            return Err(Error::Dist(format!(
                "an allreduce of {} elements into an array of {len} bytes",
                g.len
            )));
        }
        let gather = self.gather.iter().map(|a| &**a);
        let from: Vec<&NDArray> = self.send.iter().chain(gather).collect();
        // As for an MPI allreduce: the plan holds every array it reads or writes, and the
        // keys' locks (for stored values) or the only reference (for buffers) keep other
        // writers out.
        with_bytes(self.into(), &from, |into, pieces| {
            let from = (!pieces.is_empty()).then(|| Spans::new(pieces));
            shared.sum(from.as_ref(), into, g.dtype, deadline)
        })?
    }
}

/// A push call's arrays (`values[i]` the one array of `keys[i]`, keys ascending) summed over
/// the workers straight into their keys' stored values, through shared memory: the plan
/// [`in_block`] makes for such a call, made without planning key by key. It applies when
/// the store assigns, the stored values lie in order in one block of an element type summed
/// as it is, and each array is a plain one of that type and size outside the block. False,
/// with nothing changed, when the call is not of that kind: the general way then sums it,
/// in as many bytes, so every worker's sums through shared memory stay in step whichever
/// way each takes.
pub fn sum_in_block(
    net: &Net,
    name: &str,
    keys: &[(i32, &Entry)],
    values: &[NDArray],
    memory: &Memory,
) -> Result<bool> {
    let Some(shared) = &net.shared else {
        return Ok(false);
    };
    let Some(first) = keys.first().map(|(_, entry)| entry.stored()) else {
        return Ok(false);
    };
    let dtype = first.dtype();
    let (Some(start), (_, same)) = (first.data_addr(), prim(dtype)) else {
        return Ok(false);
    };
    if same != dtype || first.is_sparse() || keys.len() != values.len() {
        return Ok(false);
    }
    // Under the keys' locks no stored value is replaced: each is read in place once.
    let mut whole = Vec::with_capacity(keys.len());
    let (mut end, mut len) = (start, 0);
    for ((_, entry), value) in keys.iter().zip(values) {
        let Some(guard) = entry.lock() else {
            return Ok(false);
        };
        whole.push(guard);
        let next = entry.with_stored(|stored| {
            let fits = stored.dtype() == dtype
                && !stored.is_sparse()
                && stored.memory_id() == first.memory_id()
                && stored.data_addr() == Some(end)
                && value.dtype() == dtype
                && !value.is_sparse()
                && value.size() == stored.size()
                && value.memory_id() != first.memory_id();
            fits.then(|| (end + stored.nbytes(), stored.size()))
        });
        let Some((next, size)) = next else {
            return Ok(false);
        };
        end = next;
        len += size;
    }
    let Some(block) = memory.arenas.span(&first, len).filter(|_| len > 0) else {
        return Ok(false);
    };
    let from: Vec<&NDArray> = values.iter().collect();
    let deadline = Instant::now() + timeout();
    let silent = with_bytes(&block, &from, |into, pieces| {
        shared.sum(Some(&Spans::new(pieces)), into, dtype, deadline)
    })??;
    match silent {
        Some(Silent(w)) => Err(late(net, name, keys.len(), w)),
        None => Ok(true),
    }
}

/// The error of an allreduce of `keys` keys that worker `w` did not come to in time.
fn late(net: &Net, name: &str, keys: usize, w: i32) -> Error {
    let world = net.layout.worker_world_rank(w);
    silent_for(name, keys, format!("worker rank {w} (world rank {world})"))
}

/// The error of an allreduce of `keys` keys that did not complete in time: `silent` says
/// who did not come.
fn silent_for(name: &str, keys: usize, silent: String) -> Error {
    lost_peer(format!(
        "{name}: the allreduce of {keys} keys did not complete within {:?} \
         (MXKV_DIST_TIMEOUT): {silent} {NOT_ANSWERING}",
        timeout(),
    ))
}

/// Each key's sum over the workers of their merged values, in the order given (keys of
/// one shape and dtype on every worker, pushed in the same order): `None` for a key whose
/// sum the store `assigns` and that was made its stored value here. Every value is summed
/// into the send buffers before anything is sent.
pub fn sum_over_workers(
    net: &Net,
    name: &str,
    pushes: Vec<KeyPush<'_>>,
    assigns: bool,
    memory: &Memory,
) -> Result<Vec<Option<NDArray>>> {
    let comm = net
        .workers
        .as_ref()
        .expect("a worker has the workers' group");
    let entries: Vec<&Entry> = pushes.iter().map(|p| p.entry).collect();
    let found: Vec<&Found> = pushes.iter().map(|p| p.found).collect();
    // A group per element type, in the order of their codes (the same on every worker);
    // mostly one, so each key looks for its group in a short list.
    let mut groups: SmallVec<[Group; 2]> = SmallVec::new();
    for (i, s) in found.iter().map(|f| &f.value).enumerate() {
        let (prim, dtype) = prim(s.dtype());
        let g = match groups.iter().position(|g| g.dtype == dtype) {
            Some(at) => &mut groups[at],
            None => {
                groups.push(Group {
                    dtype,
                    prim,
                    keys: Vec::with_capacity(found.len()),
                    len: 0,
                });
                groups.last_mut().expect("just pushed")
            }
        };
        g.keys.push((i, g.len));
        g.len += s.size();
    }
    groups.sort_unstable_by_key(|g| g.dtype.code());
    let mut merged: Vec<_> = pushes.into_iter().map(|p| Some(p.merged)).collect();
    let shared = net.shared.is_some();
    let plans = groups
        .iter()
        .map(|g| plan(g, &mut merged, &found, &entries, assigns, memory, shared))
        .collect::<Result<Vec<Plan<'_>>>>()?;
    let deadline = Instant::now() + timeout();
    // Through shared memory each group is summed in turn; through MPI all are started,
    // then waited for.
    let mut started = Vec::with_capacity(plans.len());
    for (g, plan) in groups.iter().zip(&plans) {
        started.push(match &net.shared {
            Some(shared) => {
                if let Some(Silent(w)) = plan.run_shared(shared, g, deadline)? {
                    return Err(late(net, name, found.len(), w));
                }
                None
            }
            None => Some(plan.start(comm, g)?),
        });
    }
    let mut sums: Vec<Option<NDArray>> = vec![None; found.len()];
    for ((g, plan), req) in groups.iter().zip(plans).zip(started) {
        if let Some(mut req) = req {
            if !net.complete(&mut req, deadline)? {
                return Err(silent_for(
                    name,
                    found.len(),
                    net.liveness.silent_worker(&net.layout),
                ));
            }
        }
        match plan.target {
            Target::Stored { .. } => {}
            Target::Buffer(sum) if assigns => unpack(g, &entries, &sum, &mut sums)?,
            Target::Buffer(sum) => {
                for &(i, at) in &g.keys {
                    sums[i] = Some(sum_at(g, &sum, at, &found[i].value)?);
                }
            }
        }
    }
    Ok(sums)
}
