//! The server loop (reference §4.4, spec §4.8): keeps the values of its keys, sums one
//! push from every worker per round (sync) or applies each push as it comes (async), and
//! answers pulls — a worker's pull after its own push of a key waits for that round.
//!
//! Pushed values stay in the messages that brought them (large ones in messages of their
//! own), or in the worker's mailbox (`super::mailbox`), until their round is summed,
//! straight from there, into the stored value (or the updater's `recv`). Pulls of many
//! bytes are answered through a mailbox when the ranks share a node; otherwise large pulled
//! values are sent from the stored value itself, and a stored value that such a send still
//! reads is replaced, not written, by the next update.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use super::mailbox::{self, Lease, HEAD_IN_MAILBOX};
use super::net::{peer_lost, timeout, Net, NOT_ANSWERING, REQUEST_TAG};
use super::pushed::{rows_of, Message, Pushed};
use super::wire::{travels_apart, Entry, Form, Op, Request, Slot, SlotMap, Writer};
use crate::error::{Error, Result};
use crate::kvstore::{GradientCompression, UpdateKey, Updater};
use crate::ndarray::kernels::{sum_into, Elems};
use crate::ndarray::{Context, DType, NDArray, Shape, SumOrder};

/// MXNet's controller commands (reference §4.5).
pub(crate) const COMMAND_CONTROLLER: i32 = 0;
pub(crate) const COMMAND_STOP: i32 = 2;
pub(crate) const COMMAND_SYNC_MODE: i32 = 3;
pub(crate) const COMMAND_SET_GRADIENT_COMPRESSION: i32 = 4;

/// The store's updater as it is now (the controller may install one while serving).
pub type CurrentUpdater<'a> = dyn Fn() -> Option<Arc<dyn Updater>> + 'a;

/// One key piece kept by this server.
struct Value {
    stored: NDArray,
    /// The pushes of the round in progress, and who sent them.
    round: Vec<Pushed>,
    from: Vec<i32>,
}

/// A pull waiting for a round its worker pushed to.
struct Parked {
    since: Instant,
    worker: i32,
    reply_tag: i32,
    slots: Vec<Slot>,
    /// For a row_sparse pull, the rows (in the piece) asked of each slot.
    rows: Option<Vec<Vec<i64>>>,
}

struct Server<'a> {
    net: &'a Net,
    updater: &'a CurrentUpdater<'a>,
    sync: bool,
    /// The workers' 2-bit compression (command 4), to read packed pushes with.
    compression: Option<GradientCompression>,
    values: SlotMap<Value>,
    parked: Vec<Parked>,
    /// How many times a stored value changed (a round applied, a key inited).
    changes: u64,
    /// What this server's shared mailbox holds, for other pulls of the same keys before
    /// any value changes.
    shared_answer: RefCell<Option<SharedAnswer>>,
}

/// An answer in the shared mailbox: the slots asked, the changes count when it was written,
/// and the reply that says where each value is.
struct SharedAnswer {
    slots: Vec<Slot>,
    changes: u64,
    reply: Vec<u8>,
}

/// Where servers keep values.
const STORE: Context = Context::cpu(0);

/// Serves until a worker sends the stop command.
pub fn serve(
    net: &Net,
    controller: &mut dyn FnMut(i32, &[u8]),
    updater: &CurrentUpdater<'_>,
) -> Result<()> {
    let mut server = Server {
        net,
        updater,
        sync: false,
        compression: None,
        values: SlotMap::default(),
        parked: Vec::new(),
        changes: 0,
        shared_answer: RefCell::new(None),
    };
    loop {
        // An idle server waits as long as it takes; a pull waiting for a round that does
        // not complete is answered with the workers missing from it, a little before the
        // puller's own deadline, so that its error names them.
        let patience = timeout() * 3 / 4;
        let wake = match server.parked.first() {
            Some(p) => p.since + patience,
            None => Instant::now() + Duration::from_secs(3600),
        };
        let received = net.receive(None, Some(REQUEST_TAG), wake)?;
        server.expire(patience)?;
        let Some((from, _, bytes)) = received else {
            continue;
        };
        if server.handle(from, Rc::new(bytes), controller)? {
            net.flush(Instant::now() + timeout())?;
            return Ok(());
        }
    }
}

impl Server<'_> {
    /// Handles one request; true when it was the stop command.
    fn handle(
        &mut self,
        from: i32,
        message: Message,
        controller: &mut dyn FnMut(i32, &[u8]),
    ) -> Result<bool> {
        let req = Request::decode(&message)?;
        match req.op {
            Op::Init => {
                let reply = match self.init(&req.entries) {
                    Ok(()) => Writer::reply_ok().finish(),
                    Err(e) => Writer::reply_failed(&e.to_string()),
                };
                self.net.post(from, req.reply_tag, reply)?;
            }
            Op::Push => {
                let mailbox = match req.head {
                    HEAD_IN_MAILBOX => Some(Rc::new(self.lease(from, &req.entries)?)),
                    _ => None,
                };
                let mut in_mailbox = 0;
                for e in &req.entries {
                    let pushed = match e.form {
                        Form::Values => {
                            let at = offset(&message, e.data);
                            Pushed::InMessage(message.clone(), at..at + e.data.len())
                        }
                        Form::Apart if mailbox.is_some() => {
                            let lease = mailbox.clone().expect("a mailbox");
                            let range = mailbox::place(in_mailbox, e.len);
                            in_mailbox = range.end;
                            if !self.values.contains_key(&e.slot) {
                                let first = Entry {
                                    data: lease.bytes(range),
                                    ..e.clone()
                                };
                                self.init(std::slice::from_ref(&first))?;
                                continue;
                            }
                            Pushed::InMailbox(lease, range)
                        }
                        Form::Apart => {
                            let deadline = Instant::now() + timeout();
                            let came =
                                self.net
                                    .receive(Some(from), Some(req.reply_tag), deadline)?;
                            let Some((_, _, bytes)) = came else {
                                // The worker stopped in the middle of its push: the round
                                // waits for it, and its pullers learn that it is missing.
                                peer_lost();
                                return Ok(false);
                            };
                            let len = bytes.len();
                            if len != e.len {
                                return Err(Error::Dist(format!(
                                    "malformed message between workers and servers: {len} \
                                     bytes of key {} came from rank {from}, its entry said {}",
                                    e.slot.key, e.len
                                )));
                            }
                            let apart = Rc::new(bytes);
                            if !self.values.contains_key(&e.slot) {
                                let first = Entry {
                                    data: &apart[..],
                                    ..e.clone()
                                };
                                self.init(std::slice::from_ref(&first))?;
                                continue;
                            }
                            Pushed::InMessage(apart, 0..len)
                        }
                        Form::TwoBit => self.dequantize(from, e)?,
                        Form::Rows => {
                            let rows = e.rows(true)?;
                            let at = offset(&message, rows.values);
                            Pushed::Rows {
                                ids: rows.ids.to_vec(),
                                message: message.clone(),
                                values: at..at + rows.values.len(),
                            }
                        }
                    };
                    self.push(from, e, pushed)?;
                }
                drop(req);
                recycle(self.net, message);
                self.answer_parked()?;
            }
            Op::Pull | Op::PullRows => {
                let rows = match req.op {
                    Op::PullRows => Some(
                        req.entries
                            .iter()
                            .map(|e| Ok(e.rows(false)?.ids.to_vec()))
                            .collect::<Result<Vec<_>>>()?,
                    ),
                    _ => None,
                };
                let parked = Parked {
                    since: Instant::now(),
                    worker: from,
                    reply_tag: req.reply_tag,
                    slots: req.entries.iter().map(|e| e.slot).collect(),
                    rows,
                };
                if self.waits(&parked) {
                    self.parked.push(parked);
                } else {
                    self.answer_pull(&parked)?;
                }
            }
            Op::Command => {
                let done = match req.head {
                    COMMAND_CONTROLLER => {
                        controller(req.head, req.body);
                        Ok(())
                    }
                    COMMAND_SYNC_MODE => {
                        self.sync = true;
                        Ok(())
                    }
                    COMMAND_SET_GRADIENT_COMPRESSION => std::str::from_utf8(req.body)
                        .map_err(|_| {
                            Error::GradientCompression(
                                "a compression setting that is not text".into(),
                            )
                        })
                        .and_then(GradientCompression::decode)
                        .map(|setting| self.compression = setting),
                    _ => Ok(()),
                };
                let reply = match done {
                    Ok(()) => Writer::reply_ok().finish(),
                    Err(e) => Writer::reply_failed(&e.to_string()),
                };
                self.net.post(from, req.reply_tag, reply)?;
                return Ok(req.head == COMMAND_STOP);
            }
        }
        Ok(false)
    }

    /// The push `from` a worker put in its mailbox: as many bytes as its entries that
    /// travel apart.
    fn lease(&self, from: i32, entries: &[Entry<'_>]) -> Result<Lease> {
        let len = entries
            .iter()
            .filter(|e| e.form == Form::Apart)
            .fold(0, |at, e| mailbox::place(at, e.len).end);
        self.net
            .mailboxes
            .as_ref()
            .and_then(|m| m.lease(from, len))
            .ok_or_else(|| {
                Error::Dist(format!(
                    "malformed message between workers and servers: rank {from} said its push \
                     of {len} bytes was in its mailbox, which holds none"
                ))
            })
    }

    fn init(&mut self, entries: &[Entry<'_>]) -> Result<()> {
        self.changes += 1;
        let mut values = Vec::with_capacity(entries.len());
        for e in entries {
            let value = Value {
                stored: array_of(e)?,
                round: Vec::new(),
                from: Vec::new(),
            };
            values.push((e.slot, value));
        }
        self.values.extend(values);
        Ok(())
    }

    /// The values a 2-bit push carries, as many as the key piece holds.
    fn dequantize(&self, from: i32, e: &Entry<'_>) -> Result<Pushed> {
        let key = e.slot.key;
        let setting = self.compression.ok_or_else(|| {
            Error::Dist(format!(
                "a 2-bit push of key {key} from rank {from} came before the servers were \
                 given the compression setting (command 4)"
            ))
        })?;
        let stored = match self.values.get(&e.slot) {
            Some(v) if v.stored.dtype() == DType::F32 => &v.stored,
            _ => {
                return Err(Error::Dist(format!(
                    "a 2-bit push of key {key} from rank {from}: the key was not inited \
                     here as float32"
                )))
            }
        };
        let words: &[u32] = bytemuck::try_cast_slice(e.data)
            .map_err(|_| Error::Dist(format!("2-bit words of key {key} are not whole words")))?;
        let mut values = vec![0.0f32; stored.size()];
        setting.dequantize_into(words, &mut values, false)?;
        Ok(Pushed::Dequantized(values))
    }

    fn push(&mut self, from: i32, e: &Entry<'_>, pushed: Pushed) -> Result<()> {
        let Some(value) = self.values.get_mut(&e.slot) else {
            if let Pushed::Rows { .. } = pushed {
                return Err(Error::Dist(format!(
                    "a row_sparse push of key {} from rank {from} before its init",
                    e.slot.key
                )));
            }
            // MXNet's rule: the first push of a key initialises it.
            return self.init(std::slice::from_ref(e));
        };
        if let Pushed::Rows { ids, .. } = &pushed {
            let (rows, row_len) = rows_of(&value.stored);
            let fits = ids.iter().all(|&id| (0..rows as i64).contains(&id))
                && pushed.bytes().len() == ids.len() * row_len * value.stored.dtype().size();
            if !fits {
                return Err(Error::Dist(format!(
                    "a row_sparse push of key {} from rank {from} does not fit the {rows} rows \
                     of {row_len} values the server keeps",
                    e.slot.key
                )));
            }
        } else if value.stored.nbytes() != pushed.bytes().len() {
            return Err(Error::Dist(format!(
                "a push of key {} from rank {from} has {} bytes, the server keeps {}",
                e.slot.key,
                pushed.bytes().len(),
                value.stored.nbytes()
            )));
        }
        value.round.push(pushed);
        value.from.push(from);
        if self.sync && value.round.len() < self.net.layout.workers as usize {
            return Ok(());
        }
        self.changes += 1;
        let mut round = std::mem::take(&mut value.round);
        value.from.clear();
        // Only a large value is sent from the stored memory itself.
        if travels_apart(value.stored.nbytes()) && self.net.in_flight(&value.stored)? {
            value.stored = value.stored.deep_copy(STORE)?;
        }
        let dtype = DType::from_code(e.dtype)?;
        if round.iter().any(|p| matches!(p, Pushed::Rows { .. })) {
            let arrays = round
                .iter()
                .map(|p| p.array(&value.stored, dtype))
                .collect::<Result<Vec<_>>>()?;
            let refs: Vec<&NDArray> = arrays.iter().collect();
            // Row_sparse pushes sum by rows; the updater gets the row_sparse sum (reference
            // §4.4), or the value becomes it (rows not pushed are zero).
            let recv = NDArray::sum_of(&value.stored, &refs)?;
            return match (self.updater)() {
                Some(updater) => {
                    updater.check(UpdateKey::Int(e.slot.key), &value.stored)?;
                    updater.update(UpdateKey::Int(e.slot.key), recv, value.stored.clone())
                }
                None => value.stored.assign_value(&recv),
            };
        }
        let sources: SmallVec<[Elems<'_>; 4]> = round
            .iter()
            .map(|p| Elems {
                bytes: p.bytes(),
                dtype,
            })
            .collect();
        let updated = update(e.slot.key, &value.stored, &sources, (self.updater)());
        drop(sources);
        for pushed in round.drain(..) {
            if let Pushed::InMessage(message, _) = pushed {
                recycle(self.net, message);
            }
        }
        // The next round's pushes go in the same memory.
        value.round = round;
        updated
    }

    /// Whether a pull must wait: its worker pushed one of its keys in the round in progress.
    fn waits(&self, p: &Parked) -> bool {
        p.slots.iter().any(|s| {
            self.values
                .get(s)
                .is_some_and(|v| v.from.contains(&p.worker))
        })
    }

    fn answer_parked(&mut self) -> Result<()> {
        if self.parked.is_empty() {
            return Ok(());
        }
        for p in std::mem::take(&mut self.parked) {
            if self.waits(&p) {
                self.parked.push(p);
            } else {
                self.answer_pull(&p)?;
            }
        }
        Ok(())
    }

    /// Answers the pulls that waited `patience` for a round with an error naming the
    /// workers whose pushes are missing.
    fn expire(&mut self, patience: Duration) -> Result<()> {
        let now = Instant::now();
        let (late, waiting): (Vec<Parked>, Vec<Parked>) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|p| now >= p.since + patience);
        self.parked = waiting;
        let layout = self.net.layout;
        for p in late {
            let mut missing: Vec<i32> = Vec::new();
            let mut key = 0;
            for s in &p.slots {
                if let Some(v) = self.values.get(s).filter(|v| v.from.contains(&p.worker)) {
                    key = s.key;
                    missing.extend(
                        (0..layout.workers)
                            .filter(|&w| !v.from.contains(&layout.worker_world_rank(w))),
                    );
                }
            }
            missing.sort_unstable();
            missing.dedup();
            let list = |f: &dyn Fn(i32) -> i32| {
                let names: Vec<String> = missing.iter().map(|&w| f(w).to_string()).collect();
                names.join(", ")
            };
            let msg = format!(
                "a pull of key {key} waited {patience:?} for its push round to complete: no push \
                 from worker rank {} (world rank {}), which {NOT_ANSWERING}",
                list(&|w| w),
                list(&|w| layout.worker_world_rank(w)),
            );
            // The missing worker is lost: this server will not wait for it at exit either.
            peer_lost();
            self.net
                .post(p.worker, p.reply_tag, Writer::reply_failed(&msg))?;
        }
        Ok(())
    }

    fn answer_pull(&self, p: &Parked) -> Result<()> {
        let values: Vec<Option<&Value>> = p.slots.iter().map(|s| self.values.get(s)).collect();
        if p.rows.is_none() && self.answer_in_mailbox(p, &values)? {
            return Ok(());
        }
        let size: usize = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, &v.stored)))
            .map(|(i, stored)| {
                let bytes = match &p.rows {
                    Some(rows) => rows[i].len() * rows_of(stored).1 * stored.dtype().size(),
                    None if travels_apart(stored.nbytes()) => 0,
                    None => stored.nbytes(),
                };
                bytes + Writer::ENTRY_OVERHEAD
            })
            .sum();
        let mut apart = Vec::new();
        let mut w = Writer::reply_ok().written_into(self.net.send_buffer(size + 16));
        for (i, (slot, value)) in p.slots.iter().zip(values).enumerate() {
            let Some(value) = value else {
                let msg = format!(
                    "key {} has not been inited on server rank {}",
                    slot.key, self.net.layout.rank
                );
                return self
                    .net
                    .post(p.worker, p.reply_tag, Writer::reply_failed(&msg));
            };
            let stored = &value.stored;
            if let Some(rows) = &p.rows {
                let (count, row_len) = rows_of(stored);
                let row_bytes = row_len * stored.dtype().size();
                let ids = &rows[i];
                if let Some(bad) = ids.iter().find(|&&id| !(0..count as i64).contains(&id)) {
                    let msg = format!("row {bad} of key {} is not on this server", slot.key);
                    return self
                        .net
                        .post(p.worker, p.reply_tag, Writer::reply_failed(&msg));
                }
                let mut values = Vec::with_capacity(ids.len() * row_bytes);
                stored.read(|b| {
                    for &id in ids {
                        let at = id as usize * row_bytes;
                        values.extend_from_slice(&b[at..at + row_bytes]);
                    }
                })?;
                w.entry(*slot, stored.dtype().code(), &[], &values);
                continue;
            }
            if travels_apart(stored.nbytes()) {
                w.entry_apart(*slot, stored.dtype().code(), stored.nbytes());
                apart.push(stored);
                continue;
            }
            stored.read(|b| w.entry(*slot, stored.dtype().code(), &[], b))?;
        }
        self.net.post(p.worker, p.reply_tag, w.finish())?;
        for stored in apart {
            self.net
                .post_array(p.worker, p.reply_tag, stored, 0..stored.nbytes())?;
        }
        Ok(())
    }
}

impl Server<'_> {
    /// Answers a pull of whole values through this server's mailbox for the worker, when
    /// they are many bytes and it is free: true when it did.
    fn answer_in_mailbox(&self, p: &Parked, values: &[Option<&Value>]) -> Result<bool> {
        let Some(mailboxes) = &self.net.mailboxes else {
            return Ok(false);
        };
        // The same keys asked again before any value changed: the values are there.
        let mut shared = self.shared_answer.borrow_mut();
        if let Some(a) = shared.as_ref() {
            if a.changes == self.changes && a.slots == p.slots {
                mailboxes.lend_shared();
                let reply = a.reply.clone();
                return self.net.post(p.worker, p.reply_tag, reply).map(|()| true);
            }
        }
        let Some(stored) = values
            .iter()
            .map(|v| v.map(|v| &v.stored))
            .collect::<Option<Vec<&NDArray>>>()
        else {
            return Ok(false);
        };
        let len = stored
            .iter()
            .fold(0, |at, s| mailbox::place(at, s.nbytes()).end);
        if !travels_apart(len) {
            return Ok(false);
        }
        let (mut filling, reply, is_shared) = match mailboxes.fill_shared(len) {
            Some(f) => (f, Writer::reply_in_shared_mailbox(), true),
            None => match mailboxes.fill(p.worker, len) {
                Some(f) => (f, Writer::reply_in_mailbox(), false),
                None => return Ok(false),
            },
        };
        let mut w = reply.written_into(
            self.net
                .send_buffer(stored.len() * Writer::ENTRY_OVERHEAD + 16),
        );
        for (slot, stored) in p.slots.iter().zip(&stored) {
            w.entry_apart(*slot, stored.dtype().code(), stored.nbytes());
        }
        filling.put_arrays(&stored)?;
        filling.close();
        let reply = w.finish();
        if is_shared {
            *shared = Some(SharedAnswer {
                slots: p.slots.clone(),
                changes: self.changes,
                reply: reply.clone(),
            });
        }
        self.net.post(p.worker, p.reply_tag, reply)?;
        Ok(true)
    }
}

/// Keeps a message's memory for the next one once no push refers to it.
fn recycle(net: &Net, message: Message) {
    if let Ok(bytes) = Rc::try_unwrap(message) {
        net.recycle(bytes);
    }
}

/// Where `part` starts in `whole`, of which it is a slice.
fn offset(whole: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

fn array_of(e: &Entry<'_>) -> Result<NDArray> {
    let dtype = DType::from_code(e.dtype)?;
    let shape = if e.shape.is_empty() {
        Shape(vec![(e.data.len() / dtype.size()) as i64])
    } else {
        Shape(e.shape.clone())
    };
    let a = NDArray::new(shape, dtype, STORE)?;
    if a.nbytes() != e.data.len() {
        return Err(Error::Dist(format!(
            "init of key {} gives {} bytes for shape {}",
            e.slot.key,
            e.data.len(),
            a.shape()
        )));
    }
    a.write(|b| b.copy_from_slice(e.data))?;
    Ok(a)
}

/// Hands the sum of `sources` to the updater, or, with none, makes it the stored value
/// (spec §4.8). MXNet's server adds the pushes in the order they came.
fn update(
    key: i32,
    stored: &NDArray,
    sources: &[Elems<'_>],
    updater: Option<Arc<dyn Updater>>,
) -> Result<()> {
    let dtype = stored.dtype();
    let Some(updater) = updater else {
        return stored.write(|b| sum_into(b, dtype, sources, SumOrder::Sequential));
    };
    let recv = stored.like()?;
    recv.write(|b| sum_into(b, dtype, sources, SumOrder::Sequential))?;
    updater.check(UpdateKey::Int(key), stored)?;
    updater.update(UpdateKey::Int(key), recv, stored.clone())
}
