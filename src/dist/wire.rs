//! The messages between workers and servers, and their bytes.
//!
//! A request carries any number of key entries: the values of one call for one server
//! travel fused in one message, so 1000 small keys cost one message, not 1000. Small
//! values are written straight from the arrays into the message and read in place from it
//! (no copy in between); a large one ([`APART_FROM`] bytes or more) travels apart, in a
//! message of its own that follows, sent from and received into array memory (MPI moves
//! it, nothing copies it into or out of a message). Integers are little-endian; values are
//! the raw elements of their dtype.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::{Error, Result};

/// The alignment of values in a message.
const VALUE_ALIGN: usize = 8;

/// Values of at least this many bytes travel apart ([`Form::Apart`]): below, the
/// message costs more than the copy into it.
const APART_FROM: usize = 64 << 10;

/// Whether a value of `len` bytes travels apart from its message.
pub fn travels_apart(len: usize) -> bool {
    len >= APART_FROM
}

/// What a worker asks of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Set the entries' values (rank 0's init); answered.
    Init = 1,
    /// Add the entries to this round (sync) or apply them (async); not answered.
    Push = 2,
    /// Send back the entries' values, after this worker's earlier pushes of them.
    Pull = 3,
    /// A controller command `(head, body)` (reference §4.5); answered.
    Command = 4,
    /// Send back the rows each entry names (its ids, in [`Form::Rows`]), after this
    /// worker's earlier pushes of them; answered with the rows' values only.
    PullRows = 5,
}

impl Op {
    fn from_code(code: u8) -> Result<Op> {
        Ok(match code {
            1 => Op::Init,
            2 => Op::Push,
            3 => Op::Pull,
            4 => Op::Command,
            5 => Op::PullRows,
            _ => return Err(malformed(&format!("unknown operation {code}"))),
        })
    }
}

/// How an entry's bytes carry its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The raw elements of the value (or of a piece of it).
    Values = 0,
    /// 2-bit packed words of a float32 gradient (`kvstore::twobit`), to be dequantised with
    /// the threshold the servers were given (reference §3.8, §4.4).
    TwoBit = 1,
    /// Some rows of a row_sparse value: the shape is `[k, row_len]`, the bytes are k row
    /// ids (int64, counted from the piece's first row) then the k rows' values, if any.
    Rows = 2,
    /// The raw elements of the value (or of a piece of it) in a message of their own,
    /// sent after this one from the same rank with the request's reply tag; the entries
    /// that travel apart follow in the order of their entries. The entry says how many
    /// bytes ([`Entry::len`]) and carries none.
    Apart = 3,
}

impl Form {
    fn from_code(code: i32) -> Result<Form> {
        Ok(match code {
            0 => Form::Values,
            1 => Form::TwoBit,
            2 => Form::Rows,
            3 => Form::Apart,
            _ => return Err(malformed(&format!("unknown entry form {code}"))),
        })
    }
}

/// Which value an entry is: a piece of a key of one of the worker's stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Slot {
    /// The store's number: a worker's stores count up from 0 in creation order, the same
    /// on every worker, so that two stores' keys never meet on a server.
    pub store: u32,
    pub key: i32,
    /// The piece of a key split over the servers (0 for a key kept whole).
    pub part: u32,
}

/// A map from slots, hashed by a multiplication per field: a server looks every entry of
/// every message up, and the standard map's SipHash (made to resist keys chosen to collide,
/// which the workers of a job do not send) costs more than the rest of the lookup.
pub type SlotMap<V> = HashMap<Slot, V, BuildHasherDefault<SlotHasher>>;

/// The hasher of [`SlotMap`] (FxHash's step).
#[derive(Default)]
pub struct SlotHasher(u64);

impl Hasher for SlotHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(b.into());
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_i32(&mut self, n: i32) {
        self.write_u32(n as u32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One entry of a message, its value borrowed from the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    pub slot: Slot,
    pub dtype: i32,
    pub form: Form,
    /// The value's shape, sent with an init of a whole key (empty otherwise).
    pub shape: Vec<i64>,
    /// The value's bytes (none when it travels apart).
    pub data: &'a [u8],
    /// How many bytes the value has: `data`'s, or those of the message that follows.
    pub len: usize,
}

/// The bytes of a [`Form::Rows`] entry: the ids, then the rows' values.
pub fn rows_bytes(ids: &[i64], values: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(ids.len() * 8 + values.len());
    bytes.extend(ids.iter().flat_map(|id| id.to_le_bytes()));
    bytes.extend_from_slice(values);
    bytes
}

/// The rows of a [`Form::Rows`] entry.
pub struct RowsOf<'a> {
    pub ids: &'a [i64],
    pub row_len: usize,
    /// The rows' values (empty in a request for rows).
    pub values: &'a [u8],
}

impl<'a> Entry<'a> {
    /// The rows this entry carries, with its values when `with_values`.
    pub fn rows(&self, with_values: bool) -> Result<RowsOf<'a>> {
        let [k, row_len] = self.shape[..] else {
            return Err(malformed("rows without a [count, row length] shape"));
        };
        let (k, row_len) = (k as usize, row_len as usize);
        let esize = crate::ndarray::DType::from_code(self.dtype)?.size();
        let values_len = if with_values { k * row_len * esize } else { 0 };
        if self.form != Form::Rows || self.data.len() != k * 8 + values_len {
            return Err(malformed("rows of the wrong size"));
        }
        let (ids, values) = self.data.split_at(k * 8);
        let ids = bytemuck::try_cast_slice(ids).map_err(|_| malformed("row ids not aligned"))?;
        Ok(RowsOf {
            ids,
            row_len,
            values,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    pub op: Op,
    /// The tag the answer is sent with.
    pub reply_tag: i32,
    /// The command's head and body (Command only).
    pub head: i32,
    pub body: &'a [u8],
    pub entries: Vec<Entry<'a>>,
}

/// A server's answer: the pulled entries, or what went wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<'a> {
    Ok(Vec<Entry<'a>>),
    /// As `Ok`, the values of the entries that travel apart being in the server's mailbox
    /// for the worker, one after the other.
    InMailbox(Vec<Entry<'a>>),
    /// As `InMailbox`, in the server's mailbox that several workers read.
    InSharedMailbox(Vec<Entry<'a>>),
    Failed(String),
}

/// Writes one message: a header, then entries one by one.
pub struct Writer {
    buf: Vec<u8>,
    /// The tag a request's answer comes with.
    pub reply_tag: i32,
    /// Where the entry count goes, once known.
    count_at: usize,
    count: u64,
}

impl Writer {
    /// A request; its entries follow.
    pub fn request(op: Op, reply_tag: i32, head: i32, body: &[u8]) -> Writer {
        let mut w = Writer {
            buf: Vec::new(),
            reply_tag,
            count_at: 0,
            count: 0,
        };
        w.u8(op as u8);
        w.i32(reply_tag);
        w.i32(head);
        w.bytes(body);
        w.count_at = w.buf.len();
        w.u64(0);
        w
    }

    /// Changes a request's head (written when it was begun).
    pub fn set_head(&mut self, head: i32) {
        self.buf[5..9].copy_from_slice(&head.to_le_bytes());
    }

    /// A successful answer; the pulled entries follow.
    pub fn reply_ok() -> Writer {
        Writer::reply_with(0)
    }

    /// A successful answer whose values are in the server's mailbox for the worker.
    pub fn reply_in_mailbox() -> Writer {
        Writer::reply_with(2)
    }

    /// A successful answer whose values are in the server's mailbox that several workers
    /// read.
    pub fn reply_in_shared_mailbox() -> Writer {
        Writer::reply_with(4)
    }

    fn reply_with(status: u8) -> Writer {
        let mut w = Writer {
            buf: Vec::new(),
            reply_tag: 0,
            count_at: 1,
            count: 0,
        };
        w.u8(status);
        w.u64(0);
        w
    }

    /// A failed answer.
    pub fn reply_failed(msg: &str) -> Vec<u8> {
        let mut w = Writer {
            buf: Vec::new(),
            reply_tag: 0,
            count_at: 0,
            count: 0,
        };
        w.u8(1);
        w.bytes(msg.as_bytes());
        w.buf
    }

    /// The message goes on in `buf` (memory of an earlier message, cleared), which gets
    /// what is written so far.
    pub fn written_into(mut self, mut buf: Vec<u8>) -> Writer {
        buf.extend_from_slice(&self.buf);
        self.buf = buf;
        self
    }

    /// Appends an entry of raw values.
    pub fn entry(&mut self, slot: Slot, dtype: i32, shape: &[i64], data: &[u8]) {
        self.entry_as(Form::Values, slot, dtype, shape, data)
    }

    /// Appends an entry whose `len` bytes of value travel apart, in a message that the
    /// caller sends after this one (see [`Form::Apart`]).
    pub fn entry_apart(&mut self, slot: Slot, dtype: i32, len: usize) {
        self.head(Form::Apart, slot, dtype, &[], len);
        self.count += 1;
    }

    /// Appends an entry whose bytes carry its value in `form`.
    pub fn entry_as(&mut self, form: Form, slot: Slot, dtype: i32, shape: &[i64], data: &[u8]) {
        self.head(form, slot, dtype, shape, data.len());
        // Values start at multiples of 8 bytes (received messages are 8-byte aligned), so
        // that they can be read in place as their elements.
        self.buf
            .resize(self.buf.len().next_multiple_of(VALUE_ALIGN), 0);
        self.buf.extend_from_slice(data);
        self.count += 1;
    }

    /// An entry's fields before its value: the fixed ones written at once (a message may
    /// hold thousands of entries).
    fn head(&mut self, form: Form, slot: Slot, dtype: i32, shape: &[i64], len: usize) {
        let mut fixed = [0u8; HEAD];
        let fields = [
            slot.store as i32,
            slot.key,
            slot.part as i32,
            dtype,
            form as i32,
        ];
        for (at, v) in fields.into_iter().enumerate() {
            fixed[4 * at..4 * at + 4].copy_from_slice(&v.to_le_bytes());
        }
        fixed[20..].copy_from_slice(&(shape.len() as u64).to_le_bytes());
        self.buf.extend_from_slice(&fixed);
        for &d in shape {
            self.u64(d as u64);
        }
        self.u64(len as u64);
    }

    /// Bytes an entry adds besides its value (at most).
    pub(crate) const ENTRY_OVERHEAD: usize = 48;

    pub fn finish(mut self) -> Vec<u8> {
        if self.count_at > 0 {
            let at = self.count_at;
            self.buf[at..at + 8].copy_from_slice(&self.count.to_le_bytes());
        }
        self.buf
    }

    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
}

/// The bytes of an entry's fixed fields: store, key, part, dtype and form (i32 each), then
/// the shape's length (u64).
const HEAD: usize = 28;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn malformed(what: &str) -> Error {
    Error::Dist(format!(
        "malformed message between workers and servers: {what}"
    ))
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.left() < n {
            return Err(malformed("truncated"));
        }
        let taken = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(taken)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    /// A count or length, which cannot exceed the bytes left.
    fn len(&mut self) -> Result<usize> {
        let n = self.u64()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.left())
            .ok_or_else(|| malformed("a length past the end"))
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }
    fn entries(&mut self) -> Result<Vec<Entry<'a>>> {
        let n = self.len()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            // The fixed fields, read at once: five i32, then the shape's length.
            let fixed: &[u8; HEAD] = self.take(HEAD)?.try_into().expect("HEAD bytes");
            let field = |at: usize| {
                i32::from_le_bytes(fixed[4 * at..4 * at + 4].try_into().expect("4 bytes"))
            };
            let slot = Slot {
                store: field(0) as u32,
                key: field(1),
                part: field(2) as u32,
            };
            let dtype = field(3);
            let form = Form::from_code(field(4))?;
            let ndim = u64::from_le_bytes(fixed[20..].try_into().expect("8 bytes"));
            let ndim = usize::try_from(ndim)
                .ok()
                .filter(|&n| n <= self.left())
                .ok_or_else(|| malformed("a length past the end"))?;
            let mut shape = Vec::with_capacity(ndim);
            for _ in 0..ndim {
                shape.push(self.u64()? as i64);
            }
            let (data, len) = match form {
                Form::Apart => (&[][..], self.u64()? as usize),
                _ => {
                    let len = self.u64()? as usize;
                    let pad = self.pos.next_multiple_of(VALUE_ALIGN) - self.pos;
                    self.take(pad)?;
                    (self.take(len)?, len)
                }
            };
            out.push(Entry {
                slot,
                dtype,
                form,
                shape,
                data,
                len,
            });
        }
        Ok(out)
    }
}

impl<'a> Request<'a> {
    pub fn decode(bytes: &'a [u8]) -> Result<Request<'a>> {
        let mut r = Reader::new(bytes);
        let op = Op::from_code(r.u8()?)?;
        let reply_tag = r.i32()?;
        let head = r.i32()?;
        let body = r.bytes()?;
        let entries = r.entries()?;
        Ok(Request {
            op,
            reply_tag,
            head,
            body,
            entries,
        })
    }
}

impl<'a> Reply<'a> {
    pub fn decode(bytes: &'a [u8]) -> Result<Reply<'a>> {
        let mut r = Reader::new(bytes);
        match r.u8()? {
            0 => Ok(Reply::Ok(r.entries()?)),
            2 => Ok(Reply::InMailbox(r.entries()?)),
            4 => Ok(Reply::InSharedMailbox(r.entries()?)),
            1 => Ok(Reply::Failed(
                String::from_utf8_lossy(r.bytes()?).into_owned(),
            )),
            c => Err(malformed(&format!("unknown reply status {c}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(key: i32, part: u32) -> Slot {
        Slot {
            store: 1,
            key,
            part,
        }
    }

    #[test]
    fn a_request_reads_back_as_written() {
        let mut w = Writer::request(Op::Init, 77, 0, b"");
        w.entry(slot(3, 0), 0, &[2, 2], &[1; 16]);
        w.entry(slot(-4, 1), 6, &[], &[2; 8]);
        w.entry_as(Form::TwoBit, slot(5, 0), 0, &[], &[3; 4]);
        let rows = rows_bytes(&[1, 4], bytemuck::cast_slice(&[1.0f32, 2.0, 3.0, 4.0]));
        w.entry_as(Form::Rows, slot(6, 0), 0, &[2, 2], &rows);
        let bytes = w.finish();
        let req = Request::decode(&bytes).unwrap();
        assert_eq!((req.op, req.reply_tag, req.body), (Op::Init, 77, &b""[..]));
        assert_eq!(req.entries.len(), 4);
        let r = req.entries[3].rows(true).unwrap();
        assert_eq!((r.ids, r.row_len), (&[1i64, 4][..], 2));
        assert_eq!(
            r.values,
            bytemuck::cast_slice::<f32, u8>(&[1.0, 2.0, 3.0, 4.0])
        );
        assert!(req.entries[3].rows(false).is_err());
        assert!(req.entries[0].rows(true).is_err());
        assert_eq!(req.entries[0].slot, slot(3, 0));
        assert_eq!(req.entries[0].form, Form::Values);
        assert_eq!(req.entries[2].form, Form::TwoBit);
        assert_eq!(req.entries[2].data, &[3u8; 4][..]);
        assert_eq!(req.entries[0].shape, vec![2, 2]);
        assert_eq!(req.entries[0].data, &[1u8; 16][..]);
        assert_eq!(
            (req.entries[1].slot, req.entries[1].dtype),
            (slot(-4, 1), 6)
        );
        assert_eq!(req.entries[1].data, &[2u8; 8][..]);
        let cmd = Writer::request(Op::Command, 5, 0, b"opt\xff").finish();
        let cmd = Request::decode(&cmd).unwrap();
        assert_eq!(
            (cmd.op, cmd.head, cmd.body, cmd.entries.len()),
            (Op::Command, 0, &b"opt\xff"[..], 0)
        );
    }

    #[test]
    fn an_entry_is_laid_out_field_by_field_and_every_cut_is_an_error() {
        let mut w = Writer::reply_ok();
        w.entry_apart(slot(-2, 3), 6, 300);
        let bytes = w.finish();
        let mut want = vec![0u8];
        want.extend(1u64.to_le_bytes());
        for v in [1i32, -2, 3, 6, Form::Apart as i32] {
            want.extend(v.to_le_bytes());
        }
        want.extend(0u64.to_le_bytes());
        want.extend(300u64.to_le_bytes());
        assert_eq!(bytes, want);
        let mut w = Writer::request(Op::Push, 9, 0, b"");
        w.entry(slot(3, 0), 0, &[2, 2], &[1; 16]);
        w.entry_apart(slot(4, 1), 0, 64);
        let bytes = w.finish();
        assert_eq!(Request::decode(&bytes).unwrap().entries.len(), 2);
        for cut in 0..bytes.len() {
            assert!(Request::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // A shape longer than the message is an error, not a huge allocation.
        let mut huge = bytes.clone();
        // The request's header: op, reply tag, head, body length, entry count.
        let ndim_at = (1 + 4 + 4 + 8 + 8) + 20;
        assert_eq!(bytes[ndim_at..ndim_at + 8], 2u64.to_le_bytes());
        huge[ndim_at..ndim_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Request::decode(&huge).is_err());
    }

    #[test]
    fn slots_that_differ_in_any_field_hash_apart() {
        let mut map: SlotMap<u32> = SlotMap::default();
        for store in 0..3 {
            for key in -50..50 {
                for part in 0..3 {
                    map.insert(Slot { store, key, part }, store * 1000 + part);
                }
            }
        }
        assert_eq!(map.len(), 900);
        let hash = |slot: Slot| std::hash::BuildHasher::hash_one(map.hasher(), slot);
        let one = slot(7, 1);
        assert_ne!(hash(one), hash(slot(7, 2)));
        assert_ne!(hash(one), hash(Slot { store: 2, ..one }));
        assert_ne!(hash(one), hash(slot(-7, 1)));
        assert_eq!(
            map[&Slot {
                store: 2,
                key: -3,
                part: 1
            }],
            2001
        );
    }

    #[test]
    fn a_value_that_travels_apart_has_only_its_length_in_the_message() {
        let mut w = Writer::reply_ok();
        w.entry_apart(slot(7, 1), 0, APART_FROM);
        w.entry(slot(8, 0), 0, &[], &[5; 12]);
        let bytes = w.finish();
        assert!(bytes.len() < 2 * Writer::ENTRY_OVERHEAD + 12 + 16);
        let Reply::Ok(entries) = Reply::decode(&bytes).unwrap() else {
            panic!("an answer that failed");
        };
        assert_eq!(
            (entries[0].slot, entries[0].form, entries[0].len),
            (slot(7, 1), Form::Apart, APART_FROM)
        );
        assert!(entries[0].data.is_empty());
        assert_eq!((entries[1].form, entries[1].len), (Form::Values, 12));
        assert_eq!(entries[1].data, &[5u8; 12][..]);
        assert!(travels_apart(APART_FROM) && !travels_apart(APART_FROM - 1));
    }

    #[test]
    fn replies_read_back_and_garbage_is_an_error() {
        let mut w = Writer::reply_ok();
        w.entry(slot(1, 0), 0, &[], &[9; 4]);
        let ok = w.finish();
        match Reply::decode(&ok).unwrap() {
            Reply::Ok(e) => assert_eq!(e[0].data, &[9u8; 4][..]),
            other => panic!("{other:?}"),
        }
        let bad = Writer::reply_failed("key 5 has not been inited");
        assert_eq!(
            Reply::decode(&bad).unwrap(),
            Reply::Failed("key 5 has not been inited".into())
        );
        let cut = &ok[..ok.len() - 1];
        assert!(Reply::decode(cut)
            .unwrap_err()
            .to_string()
            .contains("truncated"));
        assert!(Request::decode(&[9, 0, 0]).is_err());
    }
}
