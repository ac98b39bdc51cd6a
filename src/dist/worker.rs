//! A worker's side of a store with servers (reference §4.2–§4.3): init from rank 0,
//! pushes and pulls fused into one message per server, commands, barriers, shutdown.
//! Every wait has the deadline of [`timeout`]; after a failure the store fails fast.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::broken::Broken;
use super::layout::{packed_placement, placement, Part, Parts};
use super::mailbox::{self, Filling, HEAD_IN_MAILBOX};
use super::net::{lost_peer, timeout, ArrayBytes, Net, NOT_ANSWERING, REQUEST_TAG};
use super::server::{COMMAND_SET_GRADIENT_COMPRESSION, COMMAND_STOP};
use super::wire::{self, rows_bytes, travels_apart, Form, Op, Reply, Slot, Writer};
use crate::error::{Error, Result};
use crate::ffi::mpi::Bytes;
use crate::kvstore::{twobit, Compressor, GradientCompression, RowPull};
use crate::ndarray::kernels::Elems;
use crate::ndarray::{NDArray, Storage, PREFETCH_MOST, WRITE_AHEAD};

/// The values in one row of `array` (1 for a 1-D array).
fn row_len(array: &NDArray) -> usize {
    array.shape().0.iter().skip(1).product::<i64>().max(1) as usize
}

pub struct Worker {
    net: &'static Net,
    name: String,
    /// This store's number among the process's stores (see [`Slot::store`]).
    store: u32,
    bound: usize,
    /// The first failure, repeated by every later call (spec §6: fail fast).
    broken: Broken,
    /// 2-bit compression of pushes: the setting and each key's residual (reference §4.3).
    compression: Compressor,
    /// Whether a key was inited (compression must be set before).
    inited: AtomicBool,
}

/// A message to one server: the request, and the pieces of arrays whose values follow
/// it apart ([`Form::Apart`]), in the order of their entries (or are in a mailbox).
struct Outgoing {
    request: Writer,
    apart: Vec<(NDArray, Range<usize>)>,
    /// The mailbox holding the values of the entries that travel apart, when they are
    /// there (the request's head says so).
    mailbox: Option<Filling<'static>>,
}

impl Outgoing {
    fn new(request: Writer) -> Outgoing {
        Outgoing {
            request,
            apart: Vec::new(),
            mailbox: None,
        }
    }
}

/// A server's answer to a request: who sent it, under which tag, and its bytes.
struct Answer {
    server: i32,
    tag: i32,
    bytes: Bytes,
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
            broken: Broken::default(),
            compression: Compressor::default(),
            inited: AtomicBool::new(false),
        }
    }

    /// Runs `f` unless the store already failed; a failure of the job breaks the store.
    fn guarded<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.broken.guard(f)
    }

    /// Where the item's key lives: split between rows, or between packed words once
    /// pushes are compressed.
    fn parts(&self, item: &Item<'_>) -> Parts {
        let (n, servers) = (item.array.size(), self.net.layout.servers);
        match self.compression.setting() {
            Some(_) => packed_placement(item.key, n, servers, self.bound),
            None => placement(item.key, n, row_len(item.array), servers, self.bound),
        }
    }

    /// The shape a piece has on its server: the key's, the piece's rows, or flat for a
    /// piece cut between packed words.
    fn piece_shape(&self, item: &Item<'_>, part: &Part, whole: bool) -> Vec<i64> {
        let shape = &item.array.shape().0;
        match (whole, self.compression.setting()) {
            (true, _) => shape.clone(),
            (false, Some(_)) => Vec::new(),
            (false, None) => {
                let mut dims = shape.clone();
                dims[0] = (part.elems.len() / row_len(item.array)) as i64;
                dims
            }
        }
    }

    /// A row_sparse push: each piece gets the pushed rows it holds (maybe none: every
    /// server counts one push per worker in a round).
    fn rows_entries(&self, item: &Item<'_>, out: &mut BTreeMap<i32, Outgoing>) -> Result<()> {
        let parts = self.parts(item);
        let row_len = row_len(item.array);
        item.array.with_rows(|rows| {
            let row_bytes = row_len * rows.data.dtype.size();
            for p in &parts {
                let (first, last) = (p.elems.start / row_len, p.elems.end / row_len);
                let from = rows.ids.partition_point(|&id| id < first as i64);
                let to = rows.ids.partition_point(|&id| id < last as i64);
                let ids: Vec<i64> = rows.ids[from..to]
                    .iter()
                    .map(|&id| id - first as i64)
                    .collect();
                let values = &rows.data.bytes[from * row_bytes..to * row_bytes];
                let w = &mut out.entry(p.server).or_insert_with(|| {
                    Outgoing::new(Writer::request(Op::Push, self.net.reply_tag(), 0, b""))
                });
                w.request.entry_as(
                    Form::Rows,
                    self.slot(item.key, p),
                    rows.data.dtype.code(),
                    &[ids.len() as i64, row_len as i64],
                    &rows_bytes(&ids, values),
                );
            }
        })
    }

    fn slot(&self, key: i32, part: &Part) -> Slot {
        Slot {
            store: self.store,
            key,
            part: part.index,
        }
    }

    /// One message per server holding the items' pieces: with their values when
    /// `with_data`, and the shapes of whole keys when `with_shape`. The large values of a
    /// push travel apart.
    fn messages(
        &self,
        op: Op,
        items: &[Item<'_>],
        with_data: bool,
        with_shape: bool,
    ) -> Result<BTreeMap<i32, Outgoing>> {
        let parts: Vec<Parts> = items.iter().map(|item| self.parts(item)).collect();
        let rows_push = |item: &Item<'_>| op == Op::Push && item.array.is_sparse();
        let dense_push = |item: &Item<'_>| op == Op::Push && !item.array.is_sparse();
        // The values of a push to a server go in this worker's mailbox for it when they
        // are many bytes and the mailbox is free.
        let mut boxed: BTreeMap<i32, usize> = BTreeMap::new();
        if with_data && self.net.mailboxes.is_some() {
            for (item, parts) in items.iter().zip(&parts).filter(|(i, _)| dense_push(i)) {
                let esize = item.array.dtype().size();
                for p in parts {
                    let at = boxed.entry(p.server).or_default();
                    *at = mailbox::place(*at, p.elems.len() * esize).end;
                }
            }
        }
        let mut mailboxes: BTreeMap<i32, Filling<'static>> = BTreeMap::new();
        if let Some(boxes) = &self.net.mailboxes {
            for (&server, &len) in boxed.iter().filter(|(_, &len)| travels_apart(len)) {
                if let Some(filling) = boxes.fill(server, len) {
                    mailboxes.insert(server, filling);
                }
            }
        }
        // How a piece's value travels: in a mailbox, apart (in a message of its own), or
        // in the request.
        let in_mailbox: Vec<i32> = mailboxes.keys().copied().collect();
        let apart = |item: &Item<'_>, server: i32, len: usize| {
            dense_push(item) && (in_mailbox.contains(&server) || travels_apart(len))
        };
        // Each server's message is written into memory of its whole size, at once (the rows
        // of a row_sparse push are few: their messages grow as they are written).
        let mut sizes: BTreeMap<i32, usize> = BTreeMap::new();
        for (item, parts) in items
            .iter()
            .zip(&parts)
            .filter(|(item, _)| !rows_push(item))
        {
            let esize = item.array.dtype().size();
            let shape = if with_shape {
                8 * item.array.shape().ndim()
            } else {
                0
            };
            for p in parts {
                let len = p.elems.len() * esize;
                let data = match with_data && !apart(item, p.server, len) {
                    true => len,
                    false => 0,
                };
                *sizes.entry(p.server).or_default() += data + shape + Writer::ENTRY_OVERHEAD;
            }
        }
        let mut out: BTreeMap<i32, Outgoing> = sizes
            .into_iter()
            .map(|(server, size)| {
                let w = Writer::request(op, self.net.reply_tag(), 0, b"");
                let w = w.written_into(self.net.send_buffer(size + 64));
                (server, Outgoing::new(w))
            })
            .collect();
        for (server, filling) in mailboxes {
            let o = out.get_mut(&server).expect("a message for every server");
            o.request.set_head(HEAD_IN_MAILBOX);
            o.mailbox = Some(filling);
        }
        for (item, parts) in items.iter().zip(&parts) {
            if rows_push(item) {
                self.rows_entries(item, &mut out)?;
                continue;
            }
            let whole = parts.len() == 1;
            let dtype = item.array.dtype();
            let esize = dtype.size();
            let mut write = |bytes: Option<&[u8]>| {
                for p in parts {
                    let range = p.elems.start * esize..p.elems.end * esize;
                    let w = out.get_mut(&p.server).expect("a message for every server");
                    if let (Some(bytes), Some(mailbox)) = (bytes, &mut w.mailbox) {
                        if dense_push(item) {
                            w.request.entry_apart(
                                self.slot(item.key, p),
                                dtype.code(),
                                range.len(),
                            );
                            mailbox.put(&bytes[range]);
                            continue;
                        }
                    }
                    if bytes.is_some() && apart(item, p.server, range.len()) {
                        w.request
                            .entry_apart(self.slot(item.key, p), dtype.code(), range.len());
                        w.apart.push((item.array.clone(), range));
                        continue;
                    }
                    let data = bytes.map_or(&[][..], |b| &b[range]);
                    let shape = match with_shape {
                        true => self.piece_shape(item, p, whole),
                        false => Vec::new(),
                    };
                    w.request
                        .entry(self.slot(item.key, p), dtype.code(), &shape, data);
                }
            };
            if with_data && item.array.is_sparse() {
                // A row_sparse init travels whole, the rows not stored as zeros.
                let dense = item
                    .array
                    .copy_as(Storage::Dense, dtype, item.array.context())?;
                dense.read(|b| write(Some(b)))?;
            } else if with_data {
                item.array.read(|b| write(Some(b)))?;
            } else {
                write(None);
            }
        }
        Ok(out)
    }

    fn answers(&self, what: &str, tags: Vec<(i32, i32)>) -> Result<Vec<Answer>> {
        let deadline = Instant::now() + timeout();
        let mut replies = Vec::with_capacity(tags.len());
        for (server, tag) in tags {
            let Some((_, _, bytes)) = self.net.receive(Some(server), Some(tag), deadline)? else {
                return Err(lost_peer(format!(
                    "{}: server rank {server} did not answer {what} within {:?} \
                     (MXKV_DIST_TIMEOUT): a peer {NOT_ANSWERING}",
                    self.name,
                    timeout()
                )));
            };
            if let Reply::Failed(msg) = Reply::decode(&bytes)? {
                let what = format!("{}: {msg}", self.name);
                // A server that gave up waiting for a worker says so: that peer is lost here too.
                return Err(if msg.contains(NOT_ANSWERING) {
                    lost_peer(what)
                } else {
                    Error::Dist(what)
                });
            }
            replies.push(Answer { server, tag, bytes });
        }
        Ok(replies)
    }

    /// Sends the messages, each asking for an answer under its own tag, and waits.
    fn request(&self, what: &str, messages: BTreeMap<i32, Outgoing>) -> Result<Vec<Answer>> {
        let mut tags = Vec::with_capacity(messages.len());
        for (server, out) in messages {
            tags.push((server, out.request.reply_tag));
            self.post(server, out)?;
        }
        self.answers(what, tags)
    }

    /// Sends a message to a server, and the values that follow it apart: those are sent
    /// from the arrays' memory, so this waits until the server has them (the caller may
    /// change the arrays once the call returns).
    fn post(&self, server: i32, out: Outgoing) -> Result<()> {
        let tag = out.request.reply_tag;
        if let Some(mailbox) = out.mailbox {
            mailbox.close();
            return self.net.post(server, REQUEST_TAG, out.request.finish());
        }
        self.net.post(server, REQUEST_TAG, out.request.finish())?;
        if out.apart.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + timeout();
        if self.net.send_arrays(server, tag, &out.apart, deadline)? {
            return Ok(());
        }
        Err(lost_peer(format!(
            "{}: server rank {server} did not take a push within {:?} (MXKV_DIST_TIMEOUT): \
             a peer {NOT_ANSWERING}",
            self.name,
            timeout()
        )))
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
            for (server, out) in messages {
                self.post(server, out)?;
            }
            self.net.progress()
        })
    }

    /// Pushes of float32 values as 2-bit packed words, each key quantised whole with its
    /// residual (MXNet's `PushCompressed`), each server sent the words of its pieces. Every
    /// key is checked before any residual changes.
    fn packed_messages(&self, items: &[Item<'_>]) -> Result<BTreeMap<i32, Outgoing>> {
        for item in items {
            self.compression
                .prepare(item.key, item.array, &[item.array])?;
        }
        let mut out: BTreeMap<i32, Outgoing> = BTreeMap::new();
        for item in items {
            let words = self.compression.quantize(item.key, item.array)?;
            for p in self.parts(item) {
                let packed = &words[p.elems.start / twobit::VALUES_PER_WORD
                    ..p.elems.end.div_ceil(twobit::VALUES_PER_WORD)];
                let w = out.entry(p.server).or_insert_with(|| {
                    Outgoing::new(Writer::request(Op::Push, self.net.reply_tag(), 0, b""))
                });
                w.request.entry_as(
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
                self.command_inner(
                    COMMAND_SET_GRADIENT_COMPRESSION,
                    setting.encode().as_bytes(),
                )?;
            }
            self.compression.set(setting);
            Ok(())
        })
    }

    /// Fetches each key's value from the servers into its array: small values copied
    /// from the answers, large ones received straight into the array.
    pub fn pull(&self, items: &[Item<'_>]) -> Result<()> {
        self.guarded(|| {
            let deadline = Instant::now() + timeout();
            let answers = self.request("a pull", self.messages(Op::Pull, items, false, false)?)?;
            // A row_sparse value comes whole and keeps its non-zero rows.
            let targets = items
                .iter()
                .map(|item| match item.array.is_sparse() {
                    true => NDArray::new(
                        item.array.shape().clone(),
                        item.array.dtype(),
                        item.array.context(),
                    ),
                    false => Ok(item.array.clone()),
                })
                .collect::<Result<Vec<_>>>()?;
            // Where each piece's value goes, server by server, in the order asked (which
            // is the order of the answer's entries).
            let mut awaited: BTreeMap<i32, Vec<(Slot, usize, Range<usize>)>> = BTreeMap::new();
            for (i, item) in items.iter().enumerate() {
                let esize = item.array.dtype().size();
                for p in self.parts(item) {
                    let range = p.elems.start * esize..p.elems.end * esize;
                    let slot = self.slot(item.key, &p);
                    awaited.entry(p.server).or_default().push((slot, i, range));
                }
            }
            for (answer, (server, pieces)) in answers.iter().zip(awaited) {
                let (entries, mailbox) = match Reply::decode(&answer.bytes)? {
                    Reply::Ok(entries) => (entries, None),
                    Reply::InMailbox(entries) => (entries, Some(false)),
                    Reply::InSharedMailbox(entries) => (entries, Some(true)),
                    Reply::Failed(_) => continue,
                };
                if entries.len() != pieces.len() {
                    return Err(self.wrong_value(server, pieces[0].0.key));
                }
                if let Some(shared) = mailbox {
                    self.copy_from_mailbox(server, shared, &entries, &pieces, &targets)?;
                    continue;
                }
                for (e, (slot, i, range)) in entries.into_iter().zip(pieces) {
                    if e.slot != slot || e.len != range.len() {
                        return Err(self.wrong_value(server, slot.key));
                    }
                    let target = &targets[i];
                    if e.form == Form::Apart {
                        let server = answer.server;
                        // Received under the array's write lock, as a copy into it would be.
                        let bytes = ArrayBytes::new(target, range)?;
                        let came = target.write(|_| {
                            self.net.receive_array(server, answer.tag, bytes, deadline)
                        })??;
                        if !came {
                            return Err(lost_peer(format!(
                                "{}: server rank {server} did not send the value of key {} \
                                 within {:?} (MXKV_DIST_TIMEOUT): a peer {NOT_ANSWERING}",
                                self.name,
                                e.slot.key,
                                timeout()
                            )));
                        }
                    } else {
                        target.write(|dst| dst[range].copy_from_slice(e.data))?;
                    }
                }
            }
            for (item, target) in items.iter().zip(&targets) {
                if item.array.is_sparse() {
                    item.array.assign_value(target)?;
                }
            }
            for answer in answers {
                self.net.recycle(answer.bytes);
            }
            Ok(())
        })
    }

    /// Copies the values a server put in its mailbox for this worker (or its mailbox that
    /// several workers read, when `shared`) into their targets:
    /// `pieces` are (slot, target, bytes in the target) in the order of the `entries`.
    fn copy_from_mailbox(
        &self,
        server: i32,
        shared: bool,
        entries: &[wire::Entry<'_>],
        pieces: &[(Slot, usize, Range<usize>)],
        targets: &[NDArray],
    ) -> Result<()> {
        let len = entries
            .iter()
            .fold(0, |at, e| mailbox::place(at, e.len).end);
        let lease = self
            .net
            .mailboxes
            .as_ref()
            .and_then(|m| match shared {
                true => m.lease_shared(server, len),
                false => m.lease(server, len),
            })
            .ok_or_else(|| {
                Error::Dist(format!(
                    "{}: server rank {server} said its answer was in its mailbox, which holds \
                     none",
                    self.name
                ))
            })?;
        let mut at = 0;
        let ahead = |k: usize| {
            if let Some((_, i, range)) = pieces.get(k) {
                let most = range.start.saturating_add(PREFETCH_MOST);
                targets[*i].prefetch_write(range.start..range.end.min(most));
            }
        };
        (0..WRITE_AHEAD).for_each(ahead);
        for (k, (e, (slot, i, range))) in entries.iter().zip(pieces).enumerate() {
            ahead(k + WRITE_AHEAD);
            if e.slot != *slot || e.len != range.len() || e.form != Form::Apart {
                return Err(self.wrong_value(server, slot.key));
            }
            let from = mailbox::place(at, e.len);
            at = from.end;
            targets[*i].write(|dst| dst[range.clone()].copy_from_slice(lease.bytes(from)))?;
        }
        Ok(())
    }

    fn wrong_value(&self, server: i32, key: i32) -> Error {
        Error::Dist(format!(
            "{}: server rank {server} sent no value of the right size for key {key}",
            self.name
        ))
    }

    /// Fetches only the asked rows of each pull's key from the servers that hold them, into
    /// its row_sparse output (one message per server for the whole call).
    pub fn pull_rows(&self, pulls: &[RowPull<'_>]) -> Result<()> {
        self.guarded(|| {
            let stored: Vec<NDArray> = pulls.iter().map(|p| p.entry.stored()).collect();
            let items: Vec<Item<'_>> = pulls
                .iter()
                .zip(&stored)
                .map(|(p, array)| Item { key: p.key, array })
                .collect();
            let mut messages: BTreeMap<i32, Outgoing> = BTreeMap::new();
            for (p, item) in pulls.iter().zip(&items) {
                let row_len = row_len(item.array);
                for part in self.parts(item) {
                    let first = (part.elems.start / row_len) as i64;
                    let last = (part.elems.end / row_len) as i64;
                    let ids: Vec<i64> = p
                        .ids
                        .iter()
                        .filter(|&&id| (first..last).contains(&id))
                        .map(|&id| id - first)
                        .collect();
                    let w = messages.entry(part.server).or_insert_with(|| {
                        Outgoing::new(Writer::request(Op::PullRows, self.net.reply_tag(), 0, b""))
                    });
                    w.request.entry_as(
                        Form::Rows,
                        self.slot(p.key, &part),
                        item.array.dtype().code(),
                        &[ids.len() as i64, row_len as i64],
                        &rows_bytes(&ids, &[]),
                    );
                }
            }
            let replies = self.request("a row_sparse pull", messages)?;
            let decoded = replies
                .iter()
                .map(|r| Reply::decode(&r.bytes))
                .collect::<Result<Vec<_>>>()?;
            // Each server answers its entries in the order they were asked.
            let servers: Vec<i32> = {
                let mut s: Vec<i32> = items
                    .iter()
                    .flat_map(|i| self.parts(i))
                    .map(|p| p.server)
                    .collect();
                s.sort_unstable();
                s.dedup();
                s
            };
            let mut answers: HashMap<i32, std::vec::IntoIter<&[u8]>> = HashMap::new();
            for (server, reply) in servers.iter().zip(&decoded) {
                if let Reply::Ok(entries) = reply {
                    let values: Vec<&[u8]> = entries.iter().map(|e| e.data).collect();
                    answers.insert(*server, values.into_iter());
                }
            }
            for (p, item) in pulls.iter().zip(&items) {
                let mut values = Vec::new();
                for part in self.parts(item) {
                    let data = answers
                        .get_mut(&part.server)
                        .and_then(|a| a.next())
                        .ok_or_else(|| {
                            Error::Dist(format!(
                                "{}: server rank {} sent too few rows for key {}",
                                self.name, part.server, p.key
                            ))
                        })?;
                    values.extend_from_slice(data);
                }
                let rows = Elems {
                    bytes: &values,
                    dtype: item.array.dtype(),
                };
                p.out.assign_rows(&p.ids, rows)?;
            }
            drop(decoded);
            for reply in replies {
                self.net.recycle(reply.bytes);
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
    pub fn command(&self, head: i32, body: &[u8]) -> Result<()> {
        self.guarded(|| self.command_inner(head, body))
    }

    fn command_inner(&self, head: i32, body: &[u8]) -> Result<()> {
        let messages = (0..self.net.layout.servers)
            .map(|s| {
                let w = Writer::request(Op::Command, self.net.reply_tag(), head, body);
                (s, Outgoing::new(w))
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
            self.command_inner(COMMAND_STOP, b"")
        } else {
            Ok(())
        };
        self.net.flush(Instant::now() + timeout())?;
        waited.and(stopped)
    }
}
