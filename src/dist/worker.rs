//! A worker's side of a store with servers (reference §4.2–§4.3): init from rank 0,
//! pushes and pulls fused into one message per server, commands, barriers, shutdown.
//! Every wait has the deadline of [`timeout`]; after a failure the store fails fast.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use super::layout::{packed_placement, placement, Part};
use super::net::{timeout, Net, REQUEST_TAG};
use super::server::{COMMAND_SET_GRADIENT_COMPRESSION, COMMAND_STOP};
use super::wire::{Form, Op, Reply, Slot, Writer};
use crate::error::{Error, Result};
use crate::ffi::mpi::Bytes;
use crate::kvstore::{twobit, Compressor, GradientCompression};
use crate::ndarray::NDArray;

pub struct Worker {
    net: &'static Net,
    name: String,
    /// This store's number among the process's stores (see [`Slot::store`]).
    store: u32,
    bound: usize,
    /// The first failure, repeated by every later call (spec §6: fail fast).
    broken: Mutex<Option<Error>>,
    /// 2-bit compression of pushes: the setting and each key's residual (reference §4.3).
    compression: Compressor,
    /// Whether a key was inited (compression must be set before).
    inited: AtomicBool,
}

/// One key of a call, with the array its value comes from or goes to.
pub struct Item<'a> {
    pub key: i32,
    pub array: &'a NDArray,
}

impl Worker {
    pub fn new(net: &'static Net, name: &str, store: u32) -> Worker {
        Worker {
            net,
            name: name.to_string(),
            store,
            bound: super::layout::bigarray_bound(),
            broken: Mutex::new(None),
            compression: Compressor::default(),
            inited: AtomicBool::new(false),
        }
    }

    /// Runs `f` unless the store already failed; a failure of the job breaks the store.
    fn guarded<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if let Some(e) = self.broken.lock().clone() {
            return Err(e);
        }
        f().inspect_err(|e| {
            if matches!(e, Error::Dist(_)) {
                self.broken.lock().get_or_insert_with(|| e.clone());
            }
        })
    }

    /// Where the item's key lives: split between packed words once pushes are compressed.
    fn parts(&self, item: &Item<'_>) -> Vec<Part> {
        let place = match self.compression.setting() {
            Some(_) => packed_placement,
            None => placement,
        };
        place(
            item.key,
            item.array.size(),
            self.net.layout.servers,
            self.bound,
        )
    }

    fn slot(&self, key: i32, part: &Part) -> Slot {
        Slot {
            store: self.store,
            key,
            part: part.index,
        }
    }

    /// One message per server holding the items' pieces: with their values when
    /// `with_data`, and the shapes of whole keys when `with_shape`.
    fn messages(
        &self,
        op: Op,
        items: &[Item<'_>],
        with_data: bool,
        with_shape: bool,
    ) -> Result<BTreeMap<i32, Writer>> {
        let parts: Vec<Vec<Part>> = items.iter().map(|item| self.parts(item)).collect();
        // Each server's message is written into memory of its whole size, at once.
        let mut sizes: BTreeMap<i32, usize> = BTreeMap::new();
        for (item, parts) in items.iter().zip(&parts) {
            let esize = item.array.dtype().size();
            let shape = if with_shape {
                8 * item.array.shape().ndim()
            } else {
                0
            };
            for p in parts {
                let data = if with_data { p.elems.len() * esize } else { 0 };
                *sizes.entry(p.server).or_default() += data + shape + Writer::ENTRY_OVERHEAD;
            }
        }
        let mut out: BTreeMap<i32, Writer> = sizes
            .into_iter()
            .map(|(server, size)| {
                let w = Writer::request(op, self.net.reply_tag(), 0, "");
                (server, w.written_into(self.net.send_buffer(size + 64)))
            })
            .collect();
        for (item, parts) in items.iter().zip(&parts) {
            let whole = parts.len() == 1;
            let dtype = item.array.dtype();
            let esize = dtype.size();
            let shape: &[i64] = if with_shape && whole {
                &item.array.shape().0
            } else {
                &[]
            };
            let mut write = |bytes: Option<&[u8]>| {
                for p in parts {
                    let data =
                        bytes.map_or(&[][..], |b| &b[p.elems.start * esize..p.elems.end * esize]);
                    let w = out.get_mut(&p.server).expect("a message for every server");
                    w.entry(self.slot(item.key, p), dtype.code(), shape, data);
                }
            };
            if with_data {
                item.array.read(|b| write(Some(b)))?;
            } else {
                write(None);
            }
        }
        Ok(out)
    }

    fn answers(&self, what: &str, tags: Vec<(i32, i32)>) -> Result<Vec<Bytes>> {
        let deadline = Instant::now() + timeout();
        let mut replies = Vec::with_capacity(tags.len());
        for (server, tag) in tags {
            let Some((_, _, bytes)) = self.net.receive(Some(server), Some(tag), deadline)? else {
                return Err(Error::Dist(format!(
                    "{}: server rank {server} did not answer {what} within {:?} \
                     (MXKV_DIST_TIMEOUT): a peer has failed or stopped answering",
                    self.name,
                    timeout()
                )));
            };
            if let Reply::Failed(msg) = Reply::decode(&bytes)? {
                return Err(Error::Dist(format!("{}: {msg}", self.name)));
            }
            replies.push(bytes);
        }
        Ok(replies)
    }

    /// Sends the messages, each asking for an answer under its own tag, and waits.
    fn request(&self, what: &str, messages: BTreeMap<i32, Writer>) -> Result<Vec<Bytes>> {
        let mut tags = Vec::with_capacity(messages.len());
        for (server, w) in messages {
            tags.push((server, w.reply_tag));
            self.net.post(server, REQUEST_TAG, w.finish())?;
        }
        self.answers(what, tags)
    }

    /// Rank 0's values become the keys' values on the servers; every worker then waits
    /// for the others, so that no push overtakes an init (reference §4.3).
    pub fn init(&self, items: &[Item<'_>]) -> Result<()> {
        self.inited.store(true, Ordering::Relaxed);
        self.guarded(|| {
            if self.rank() == 0 {
                let messages = self.messages(Op::Init, items, true, true)?;
                self.request("an init", messages)?;
            }
            self.barrier_inner("init")
        })
    }

    /// Sends each key's merged value to the servers, fused per server (2-bit packed once
    /// compression is set); not answered.
    pub fn push(&self, items: &[Item<'_>]) -> Result<()> {
        self.guarded(|| {
            let messages = match self.compression.setting() {
                Some(_) => self.packed_messages(items)?,
                None => self.messages(Op::Push, items, true, false)?,
            };
            for (server, w) in messages {
                self.net.post(server, REQUEST_TAG, w.finish())?;
            }
            self.net.progress()
        })
    }

    /// Pushes of float32 values as 2-bit packed words, each key quantised whole with its
    /// residual (MXNet's `PushCompressed`), each server sent the words of its pieces. Every
    /// key is checked before any residual changes.
    fn packed_messages(&self, items: &[Item<'_>]) -> Result<BTreeMap<i32, Writer>> {
        for item in items {
            self.compression
                .prepare(item.key, item.array, &[item.array])?;
        }
        let mut out: BTreeMap<i32, Writer> = BTreeMap::new();
        for item in items {
            let words = self.compression.quantize(item.key, item.array)?;
            for p in self.parts(item) {
                let packed = &words[p.elems.start / twobit::VALUES_PER_WORD
                    ..p.elems.end.div_ceil(twobit::VALUES_PER_WORD)];
                let w = out
                    .entry(p.server)
                    .or_insert_with(|| Writer::request(Op::Push, self.net.reply_tag(), 0, ""));
                w.entry_as(
                    Form::TwoBit,
                    self.slot(item.key, &p),
                    item.array.dtype().code(),
                    &[],
                    bytemuck::cast_slice(packed),
                );
            }
        }
        Ok(out)
    }

    /// Sets 2-bit compression: rank 0 tells the servers the threshold (MXNet's command 4),
    /// then this worker packs its pushes. Only before the first init, as the pieces of big
    /// keys depend on it.
    pub fn set_gradient_compression(&self, setting: GradientCompression) -> Result<()> {
        if self.inited.load(Ordering::Relaxed) {
            return Err(Error::GradientCompression(format!(
                "{}: set gradient compression before the first init: the servers' pieces of \
                 big keys follow it",
                self.name
            )));
        }
        self.guarded(|| {
            if self.rank() == 0 {
                self.command_inner(COMMAND_SET_GRADIENT_COMPRESSION, &setting.encode())?;
            }
            self.compression.set(setting);
            Ok(())
        })
    }

    /// Fetches each key's value from the servers into its array.
    pub fn pull(&self, items: &[Item<'_>]) -> Result<()> {
        self.guarded(|| {
            let replies = self.request("a pull", self.messages(Op::Pull, items, false, false)?)?;
            let mut values: HashMap<Slot, &[u8]> = HashMap::with_capacity(items.len());
            let decoded = replies
                .iter()
                .map(|r| Reply::decode(r))
                .collect::<Result<Vec<_>>>()?;
            for reply in &decoded {
                if let Reply::Ok(entries) = reply {
                    values.extend(entries.iter().map(|e| (e.slot, e.data)));
                }
            }
            for item in items {
                let esize = item.array.dtype().size();
                let parts = self.parts(item);
                item.array.write(|dst| {
                    for p in &parts {
                        let range = p.elems.start * esize..p.elems.end * esize;
                        match values.get(&self.slot(item.key, p)) {
                            Some(data) if data.len() == range.len() => {
                                dst[range].copy_from_slice(data);
                                Ok(())
                            }
                            _ => Err(Error::Dist(format!(
                                "{}: server rank {} sent no value of the right size for key {}",
                                self.name, p.server, item.key
                            ))),
                        }?;
                    }
                    Ok::<(), Error>(())
                })??;
            }
            drop(decoded);
            for reply in replies {
                self.net.recycle(reply);
            }
            Ok(())
        })
    }

    pub fn rank(&self) -> i32 {
        self.net.layout.worker_rank().unwrap_or(0)
    }

    pub fn barrier(&self) -> Result<()> {
        self.guarded(|| self.barrier_inner("a barrier"))
    }

    fn barrier_inner(&self, what: &str) -> Result<()> {
        self.net.workers_barrier(&self.name, what)
    }

    /// Sends a command to every server and waits for each to acknowledge it.
    pub fn command(&self, head: i32, body: &str) -> Result<()> {
        self.guarded(|| self.command_inner(head, body))
    }

    fn command_inner(&self, head: i32, body: &str) -> Result<()> {
        let messages = (0..self.net.layout.servers)
            .map(|s| {
                (
                    s,
                    Writer::request(Op::Command, self.net.reply_tag(), head, body),
                )
            })
            .collect();
        self.request(&format!("command {head}"), messages).map(drop)
    }

    /// The store is freed: wait for the others (when asked), then rank 0 stops the
    /// servers when `stops_servers` (reference §4.9), even after a failure, so that the
    /// job ends. Sends still in flight are finished.
    pub fn close(&self, barrier_before_exit: bool, stops_servers: bool) -> Result<()> {
        let waited = if barrier_before_exit {
            self.barrier()
        } else {
            Ok(())
        };
        let stopped = if barrier_before_exit && stops_servers && self.rank() == 0 {
            self.command_inner(COMMAND_STOP, "")
        } else {
            Ok(())
        };
        self.net.flush(Instant::now() + timeout())?;
        waited.and(stopped)
    }
}
