//! MXNet's binary array format (reference §2.2), so that `.params` files move freely
//! between MXNet and mxkv. All integers are little-endian.
//!
//! file   = u64 0x112, u64 0, u64 count, count × array, u64 name_count, name_count × name
//! array  = u32 magic, i32 stype, [sparse: storage shape], shape,
//!          [if not none: i32 dev_type, i32 dev_id, i32 dtype, [sparse: per aux: i32 aux dtype,
//!          aux shape], data, [sparse: per aux: aux data]]
//! shape  = i32 ndim, ndim × i64
//!
//! A sparse array's data is its stored values (the storage shape); row_sparse arrays have
//! one aux array (row ids), csr matrices two (indptr, column ids).
//! name   = u64 len, len bytes

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::sparse::Parts;
use super::{Context, DType, Device, NDArray, Shape, Storage};
use crate::error::{escaped, Error, Result};

const FILE_MAGIC: u64 = 0x112;
/// Legacy-shape arrays (what MXNet 1.x writes by default).
const ARRAY_MAGIC_V2: u32 = 0xF993_FAC9;
/// numpy-shape arrays (`ndim == -1` means unknown, i.e. none).
const ARRAY_MAGIC_V3: u32 = 0xF993_FACA;

/// A whole `.params` file in memory: arrays and (empty, or one per array) names. A name is
/// bytes (length and bytes in the file), UTF-8 or not, as in MXNet.
pub fn save(arrays: &[NDArray], names: &[impl AsRef<[u8]>]) -> Result<Vec<u8>> {
    check_names(arrays, names)?;
    let size = arrays.iter().fold(24, |n, a| n + record_size(a))
        + names.iter().fold(8, |n, name| n + 8 + name.as_ref().len());
    let mut out = Vec::new();
    out.try_reserve_exact(size)
        .map_err(|_| Error::OutOfMemory(size))?;
    write_file_body(arrays, names, &mut out).map_err(|e| Error::Panic(e.to_string()))?;
    Ok(out)
}

/// Writes a whole `.params` file to `path` as it is serialised: no copy of the arrays in
/// memory, so saving needs no memory beyond a small buffer.
pub fn save_file(
    path: impl AsRef<Path>,
    arrays: &[NDArray],
    names: &[impl AsRef<[u8]>],
) -> Result<()> {
    check_names(arrays, names)?;
    let path = path.as_ref();
    let io_error = |e: std::io::Error| io_error(path, e);
    let file = std::fs::File::create(path).map_err(io_error)?;
    let mut w = std::io::BufWriter::new(file);
    write_file_body(arrays, names, &mut w).map_err(io_error)?;
    w.into_inner()
        .map_err(|e| io_error(e.into_error()))?
        .sync_data()
        .map_err(io_error)
}

/// An I/O failure on `path`, the file named as its bytes are (escaped where not UTF-8).
fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: escaped(path.as_os_str().as_bytes()),
        detail: e.to_string(),
    }
}

fn check_names(arrays: &[NDArray], names: &[impl AsRef<[u8]>]) -> Result<()> {
    if !names.is_empty() && names.len() != arrays.len() {
        return Err(Error::invalid(format!(
            "{} arrays but {} names",
            arrays.len(),
            names.len()
        )));
    }
    Ok(())
}

fn write_file_body(
    arrays: &[NDArray],
    names: &[impl AsRef<[u8]>],
    w: &mut impl Write,
) -> std::io::Result<()> {
    w.write_all(&FILE_MAGIC.to_le_bytes())?;
    w.write_all(&0u64.to_le_bytes())?;
    w.write_all(&(arrays.len() as u64).to_le_bytes())?;
    for a in arrays {
        write_record(a, w)?;
    }
    w.write_all(&(names.len() as u64).to_le_bytes())?;
    for n in names.iter().map(AsRef::as_ref) {
        w.write_all(&(n.len() as u64).to_le_bytes())?;
        w.write_all(n)?;
    }
    Ok(())
}

/// One array record (the `MXNDArraySaveRawBytes` format), in a buffer of its exact size.
pub fn save_array(a: &NDArray) -> Result<Vec<u8>> {
    let size = record_size(a);
    let mut out = Vec::new();
    out.try_reserve_exact(size)
        .map_err(|_| Error::OutOfMemory(size))?;
    write_record(a, &mut out).map_err(|e| Error::Panic(e.to_string()))?;
    Ok(out)
}

/// Bytes of `a`'s record.
fn record_size(a: &NDArray) -> usize {
    let shape_size = |s: &Shape| 4 + 8 * s.ndim();
    let head = 4 + 4 + shape_size(a.shape());
    match a.parts() {
        _ if a.is_none() => head,
        None => head + 12 + a.nbytes(),
        Some(p) => {
            head + shape_size(p.data.shape())
                + 12
                + p.data.nbytes()
                + p.aux
                    .iter()
                    .map(|x| 4 + shape_size(x.shape()) + x.nbytes())
                    .sum::<usize>()
        }
    }
}

fn write_shape(s: &Shape, w: &mut impl Write) -> std::io::Result<()> {
    w.write_all(&(s.ndim() as i32).to_le_bytes())?;
    for &d in &s.0 {
        w.write_all(&d.to_le_bytes())?;
    }
    Ok(())
}

fn write_data(a: &NDArray, w: &mut impl Write) -> std::io::Result<()> {
    a.read(|bytes| w.write_all(bytes))
        .map_err(|e| std::io::Error::other(e.to_string()))?
}

/// A 0-d array needs the numpy-shape magic: in the legacy format `ndim == 0` means "none".
fn write_record(a: &NDArray, w: &mut impl Write) -> std::io::Result<()> {
    let ndim = a.shape().ndim();
    let magic = if ndim == 0 && !a.is_none() {
        ARRAY_MAGIC_V3
    } else {
        ARRAY_MAGIC_V2
    };
    w.write_all(&magic.to_le_bytes())?;
    w.write_all(&a.storage().code().to_le_bytes())?;
    let parts = a.parts();
    if let Some(p) = &parts {
        write_shape(p.data.shape(), w)?;
    }
    write_shape(a.shape(), w)?;
    if a.is_none() {
        return Ok(());
    }
    let ctx = a.context();
    w.write_all(&ctx.device.code().to_le_bytes())?;
    w.write_all(&ctx.dev_id.to_le_bytes())?;
    w.write_all(&a.dtype().code().to_le_bytes())?;
    let Some(p) = parts else {
        return write_data(a, w);
    };
    for x in &p.aux {
        w.write_all(&x.dtype().code().to_le_bytes())?;
        write_shape(x.shape(), w)?;
    }
    write_data(&p.data, w)?;
    p.aux.iter().try_for_each(|x| write_data(x, w))
}

/// A whole `.params` file from memory.
pub fn load(bytes: &[u8]) -> Result<(Vec<NDArray>, Vec<Vec<u8>>)> {
    let mut r = Reader::new(bytes, bytes.len() as u64);
    check_file_magic(r.u64()?)?;
    load_body(&mut r)
}

/// A whole `.params` file from `path`, parsed as it is read: the header is checked before
/// anything else is read, and no count or size is believed beyond the bytes the file has.
pub fn load_file(path: impl AsRef<Path>) -> Result<(Vec<NDArray>, Vec<Vec<u8>>)> {
    let path = path.as_ref();
    let io_error = |e: std::io::Error| io_error(path, e);
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let mut head = [0u8; 8];
    file.read_exact(&mut head).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            Error::Format("not an MXNet array file (shorter than its 8-byte header)".into())
        }
        _ => io_error(e),
    })?;
    check_file_magic(u64::from_le_bytes(head))?;
    let meta = file.metadata().map_err(io_error)?;
    if meta.is_file() {
        let left = meta.len().saturating_sub(8);
        load_body(&mut Reader::new(std::io::BufReader::new(file), left))
    } else {
        // A pipe or device: its length is what it yields.
        let mut rest = Vec::new();
        file.read_to_end(&mut rest).map_err(io_error)?;
        load_body(&mut Reader::new(&rest[..], rest.len() as u64))
    }
}

fn check_file_magic(magic: u64) -> Result<()> {
    if magic != FILE_MAGIC {
        return Err(Error::Format(format!(
            "not an MXNet array file (header 0x{magic:x}, expected 0x112)"
        )));
    }
    Ok(())
}

fn load_body<R: Read>(r: &mut Reader<R>) -> Result<(Vec<NDArray>, Vec<Vec<u8>>)> {
    r.u64()?; // reserved
    let count = r.count(4)?;
    let mut arrays = Vec::new();
    for _ in 0..count {
        arrays.push(load_record(r)?);
    }
    let name_count = r.count(8)?;
    if name_count != 0 && name_count != count {
        return Err(Error::Format(format!(
            "{count} arrays but {name_count} names"
        )));
    }
    let mut names = Vec::new();
    for _ in 0..name_count {
        let len = r.count(1)?;
        let mut name = vec![0; len];
        r.fill(&mut name)?;
        names.push(name);
    }
    Ok((arrays, names))
}

/// One array record, which must fill `bytes` exactly.
pub fn load_array(bytes: &[u8]) -> Result<NDArray> {
    let mut r = Reader::new(bytes, bytes.len() as u64);
    let a = load_record(&mut r)?;
    if r.left != 0 {
        return Err(Error::Format(format!(
            "{} bytes left over after the array",
            r.left
        )));
    }
    Ok(a)
}

fn load_record<R: Read>(r: &mut Reader<R>) -> Result<NDArray> {
    let magic = r.u32()?;
    if magic != ARRAY_MAGIC_V2 && magic != ARRAY_MAGIC_V3 {
        return Err(Error::Format(format!(
            "bad array magic 0x{magic:08x} at byte {}",
            r.pos - 4
        )));
    }
    let stype = Storage::from_code(r.i32()?).map_err(|e| Error::Format(e.to_string()))?;
    let storage_shape = match stype {
        Storage::Dense => None,
        _ => Some(read_shape(r)?),
    };
    let ndim = r.i32()?;
    if ndim == -1 && magic == ARRAY_MAGIC_V3 || ndim == 0 && magic == ARRAY_MAGIC_V2 {
        return Ok(NDArray::none());
    }
    let shape = read_dims(r, ndim)?;
    let dev_type = r.i32()?;
    let dev_id = r.i32()?;
    // Arrays saved on a GPU load onto the CPU of the same number.
    let device = if dev_type == Device::GPU_CODE {
        Ok(Device::Cpu)
    } else {
        Device::from_code(dev_type)
    };
    let ctx = device
        .and_then(|d| Context::new(d, dev_id))
        .map_err(|e| Error::Format(e.to_string()))?;
    let dtype = DType::from_code(r.i32()?)?;
    let Some(storage_shape) = storage_shape else {
        return read_data(r, shape, dtype, ctx);
    };
    let mut aux_heads = Vec::with_capacity(stype.num_aux());
    for _ in 0..stype.num_aux() {
        let aux_dtype = DType::from_code(r.i32()?)?;
        aux_heads.push((aux_dtype, read_shape(r)?));
    }
    let data = read_data(r, storage_shape, dtype, ctx)?;
    let mut aux = Vec::with_capacity(aux_heads.len());
    for (aux_dtype, aux_shape) in aux_heads {
        aux.push(read_data(r, aux_shape, aux_dtype, ctx)?);
    }
    NDArray::from_parts(stype, shape, ctx, Parts { data, aux })
        .map_err(|e| Error::Format(e.to_string()))
}

fn read_shape<R: Read>(r: &mut Reader<R>) -> Result<Shape> {
    let ndim = r.i32()?;
    read_dims(r, ndim)
}

fn read_dims<R: Read>(r: &mut Reader<R>, ndim: i32) -> Result<Shape> {
    let ndim = usize::try_from(ndim).map_err(|_| Error::Format(format!("bad ndim {ndim}")))?;
    let mut dims = Vec::with_capacity(r.count_of(ndim, 8)?);
    for _ in 0..ndim {
        dims.push(r.i64()?);
    }
    Ok(Shape(dims))
}

/// An array of `shape` whose elements follow in the stream.
fn read_data<R: Read>(
    r: &mut Reader<R>,
    shape: Shape,
    dtype: DType,
    ctx: Context,
) -> Result<NDArray> {
    let size = shape.size().map_err(|e| Error::Format(e.to_string()))?;
    r.count_of(size, dtype.size())?;
    let a = NDArray::new(shape, dtype, ctx)?;
    a.write(|dst| r.fill(dst))??;
    Ok(a)
}

/// Reads a record stream from memory or a file, knowing how many bytes are left, so every
/// count is checked against the data before anything is allocated for it.
struct Reader<R> {
    src: R,
    pos: u64,
    left: u64,
}

impl<R: Read> Reader<R> {
    fn new(src: R, left: u64) -> Reader<R> {
        Reader { src, pos: 0, left }
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        let n = buf.len() as u64;
        let truncated = |left: u64, pos: u64| {
            Error::Format(format!(
                "truncated: needed {n} bytes at byte {pos}, only {left} left"
            ))
        };
        if n > self.left {
            return Err(truncated(self.left, self.pos));
        }
        // A file that shrinks while it is read ends early: that is truncation too.
        self.src
            .read_exact(buf)
            .map_err(|_| truncated(self.left, self.pos))?;
        self.pos += n;
        self.left -= n;
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0; N];
        self.fill(&mut b)?;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// A u64 count of items of at least `min_item` bytes each, checked against what is left.
    fn count(&mut self, min_item: usize) -> Result<usize> {
        let n = self.u64()?;
        let n = usize::try_from(n).map_err(|_| Error::Format(format!("count {n} is too large")))?;
        self.count_of(n, min_item)
    }

    fn count_of(&self, n: usize, item: usize) -> Result<usize> {
        match n.checked_mul(item) {
            Some(b) if b as u64 <= self.left => Ok(n),
            _ => Err(Error::Format(format!(
                "truncated: {n} items of {item} bytes announced, {} bytes left",
                self.left
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_shape_dtype_context_values_and_names() {
        let a = NDArray::new(Shape(vec![2, 3]), DType::F64, Context::cpu_pinned(2)).unwrap();
        a.copy_from_bytes(bytemuck::cast_slice(&[1.0f64, 2., 3., 4., 5., 6.]), 6)
            .unwrap();
        let b = NDArray::new(Shape(vec![4]), DType::I8, Context::cpu(0)).unwrap();
        let bytes = save(&[a.clone(), b.clone(), NDArray::none()], &["w", "b", "n"]).unwrap();
        let (arrays, names) = load(&bytes).unwrap();
        assert_eq!(names, [b"w", b"b", b"n"]);
        assert_eq!(arrays[0].shape(), a.shape());
        assert_eq!(arrays[0].dtype(), DType::F64);
        assert_eq!(arrays[0].context(), a.context());
        assert_eq!(arrays[0].to_bytes().unwrap(), a.to_bytes().unwrap());
        assert_eq!(arrays[1].dtype(), DType::I8);
        assert!(arrays[2].is_none());
        assert_eq!(save(&arrays, &names).unwrap(), bytes);
    }

    #[test]
    fn truncated_and_garbage_input_are_errors() {
        let a = NDArray::new(Shape(vec![8]), DType::F32, Context::cpu(0)).unwrap();
        let bytes = save(&[a], NO_NAMES).unwrap();
        for cut in 0..bytes.len() {
            assert!(load(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(load(b"garbage garbage garbage").is_err());
        let mut huge = bytes.clone();
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(load(&huge).is_err());
    }

    #[test]
    fn unknown_storage_types_are_errors() {
        let a = NDArray::new(Shape(vec![8]), DType::F32, Context::cpu(0)).unwrap();
        let bytes = save(&[a], NO_NAMES).unwrap();
        // Header: magic, reserved, count (8 bytes each); then the record's magic and stype.
        let with_stype = |stype: i32| {
            let mut b = bytes.clone();
            b[28..32].copy_from_slice(&stype.to_le_bytes());
            load(&b).unwrap_err().to_string()
        };
        assert!(with_stype(7).contains("unknown storage type 7"));
        assert!(with_stype(-1).contains("unknown storage type -1"));
    }

    #[test]
    fn sparse_arrays_round_trip() {
        let ctx = Context::cpu(0);
        let rsp = NDArray::new_sparse(
            Storage::RowSparse,
            Shape(vec![5, 2]),
            DType::F64,
            ctx,
            &[(DType::I64, 2)],
        )
        .unwrap();
        let csr = NDArray::new_sparse(
            Storage::Csr,
            Shape(vec![2, 3]),
            DType::F32,
            ctx,
            &[(DType::I64, 3), (DType::I32, 1)],
        )
        .unwrap();
        let bytes = save(&[rsp, csr], NO_NAMES).unwrap();
        let (back, _) = load(&bytes).unwrap();
        assert_eq!(back[0].storage(), Storage::RowSparse);
        assert_eq!(back[0].shape(), &Shape(vec![5, 2]));
        assert_eq!(back[0].parts().unwrap().data.shape(), &Shape(vec![2, 2]));
        assert_eq!(back[1].storage(), Storage::Csr);
        assert_eq!(back[1].aux_dtype(1).unwrap(), DType::I32);
        assert_eq!(save(&back, NO_NAMES).unwrap(), bytes);
        // A storage shape of 3 rows with 2 row ids: the record is refused.
        let mut bad = bytes.clone();
        bad[36] = 3;
        assert!(load(&bad)
            .unwrap_err()
            .to_string()
            .contains("Shape mismatch"));
    }

    const NO_NAMES: &[&str] = &[];

    #[test]
    fn names_and_file_names_are_bytes_utf8_or_not() {
        let a = NDArray::new(Shape(vec![2]), DType::F32, Context::cpu(0)).unwrap();
        let names: [&[u8]; 2] = [b"w\xff", "é".as_bytes()];
        let dir = std::path::PathBuf::from(temp_path(""));
        let path = dir.join(std::ffi::OsStr::from_bytes(b"n\xfe.params"));
        save_file(&path, &[a.clone(), a.clone()], &names).unwrap();
        let (arrays, loaded) = load_file(&path).unwrap();
        assert_eq!(
            (arrays.len(), loaded),
            (2, vec![b"w\xff".to_vec(), "é".into()])
        );
        let missing = dir.join(std::ffi::OsStr::from_bytes(b"gone\xfe\xc3.params"));
        let err = load_file(&missing).unwrap_err().to_string();
        assert!(err.contains("gone\\xfe\\xc3.params"), "{err}");
    }

    fn temp_path(name: &str) -> String {
        let dir = std::env::temp_dir().join(format!("mxkv-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name).to_string_lossy().into_owned()
    }

    #[test]
    fn a_zero_dim_array_round_trips_as_a_numpy_shape_record() {
        let a = NDArray::new(Shape(vec![]), DType::F32, Context::cpu(0)).unwrap();
        a.copy_from_bytes(bytemuck::bytes_of(&2.5f32), 1).unwrap();
        let raw = save_array(&a).unwrap();
        assert_eq!(raw[..4], ARRAY_MAGIC_V3.to_le_bytes());
        let back = load_array(&raw).unwrap();
        assert!(!back.is_none());
        assert_eq!(back.shape().ndim(), 0);
        assert_eq!(back.to_bytes().unwrap(), 2.5f32.to_le_bytes());
        let none = NDArray::none();
        let (arrays, _) = load(&save(&[a, none], NO_NAMES).unwrap()).unwrap();
        assert_eq!(arrays[0].to_bytes().unwrap(), 2.5f32.to_le_bytes());
        assert!(arrays[1].is_none());
    }

    #[test]
    fn save_file_and_load_file_round_trip_and_match_the_in_memory_format() {
        let a = NDArray::new(Shape(vec![3, 2]), DType::F16, Context::cpu(1)).unwrap();
        a.write(|b| b.iter_mut().enumerate().for_each(|(i, x)| *x = i as u8))
            .unwrap();
        let path = temp_path("round.params");
        save_file(&path, &[a.clone()], &["w"]).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            save(&[a.clone()], &["w"]).unwrap()
        );
        let (arrays, names) = load_file(&path).unwrap();
        assert_eq!(names, [b"w"]);
        assert_eq!(arrays[0].to_bytes().unwrap(), a.to_bytes().unwrap());
        let err = save_file("/nonexistent-dir/x.params", &[a], NO_NAMES).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-dir/x.params"),
            "{err}"
        );
    }

    #[test]
    fn load_file_checks_the_header_before_reading_on() {
        // /dev/zero never ends: only a header check stops reading it.
        let err = load_file("/dev/zero").unwrap_err().to_string();
        assert!(err.contains("not an MXNet array file"), "{err}");
        let short = temp_path("short.params");
        std::fs::write(&short, [0x12, 0x01]).unwrap();
        let err = load_file(&short).unwrap_err().to_string();
        assert!(err.contains("8-byte header"), "{err}");
    }

    #[test]
    fn load_file_believes_no_size_beyond_the_file() {
        let a = NDArray::new(Shape(vec![4]), DType::F32, Context::cpu(0)).unwrap();
        let mut bytes = save(&[a], NO_NAMES).unwrap();
        // The record's single dimension (after header 24, magic 4, stype 4, ndim 4).
        bytes[36..44].copy_from_slice(&(1i64 << 40).to_le_bytes());
        let path = temp_path("huge-dim.params");
        std::fs::write(&path, &bytes).unwrap();
        let err = load_file(&path).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        bytes[16..24].copy_from_slice(&(1u64 << 60).to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let err = load_file(&path).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
