//! The data kernels of the store: copy with conversion, and the D-way sum of a push.
//!
//! Both work on raw element bytes and dispatch once per call on the dtypes. The sum is
//! formed block by block (a block stays in L1 while every source is added to it), so each
//! source is read once and the destination written once, as a hand-written C loop would.
//! Large jobs are split over the process's pool ([`crate::pool`]); small ones never leave the calling thread.
//! The additions happen in the order MXNet's reduce uses ([`SumOrder`]), element by
//! element, so a float sum is the same bits as MXNet's whatever the split.

use std::ops::Range;

use smallvec::SmallVec;

use super::dtype::{with_dtype, DType, Element};

/// Elements per block: 8 KiB of float32, comfortably inside L1 together with one source.
const BLOCK: usize = 2048;

/// Bytes a job must touch before it is worth splitting over threads. Waking a pool
/// thread costs tens of microseconds on a virtual machine: below about 3 MiB (a 4-way
/// sum of 1e5 float32) one thread finishes sooner; at 4 MiB two are clearly faster.
const PARALLEL_BYTES: usize = 3 << 20;

/// A typed run of elements: the bytes and their dtype.
#[derive(Clone, Copy)]
pub struct Elems<'a> {
    pub bytes: &'a [u8],
    pub dtype: DType,
}

impl<'a> Elems<'a> {
    fn len(&self) -> usize {
        self.bytes.len() / self.dtype.size()
    }

    fn range(&self, r: &Range<usize>) -> Elems<'a> {
        let s = self.dtype.size();
        Elems {
            bytes: &self.bytes[r.start * s..r.end * s],
            dtype: self.dtype,
        }
    }
}

/// The order in which the sources of a sum are added (float addition is not associative,
/// so the order decides the bits of the result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SumOrder {
    /// `((s0 + s1) + s2) + …`: MXNet's `ElementwiseSum`, used by the `device` store's
    /// reduce (`CommDevice::Reduce`).
    Sequential,
    /// `s0 + (s1 + s2 + s3 + s4) + (s5 + …)`: the first source accumulates the others in
    /// groups of up to four, each group summed left to right first — MXNet's CPU reduce
    /// (`CommCPU::ReduceSumCPU`), used by the local stores.
    GroupsOfFour,
}

impl SumOrder {
    /// How many sources are summed together before they are added to the first.
    fn group(self) -> usize {
        match self {
            SumOrder::Sequential => 1,
            SumOrder::GroupsOfFour => 4,
        }
    }
}

/// `dst = srcs[0] + srcs[1] + …` in `order`, each source converted to the destination's
/// accumulator type. With one source this is a converting copy. Every source has `dst`'s
/// element count.
pub fn sum_into(dst: &mut [u8], dst_dtype: DType, srcs: &[Elems<'_>], order: SumOrder) {
    let n = dst.len() / dst_dtype.size();
    debug_assert!(!srcs.is_empty() && srcs.iter().all(|s| s.len() == n));
    let touched: usize = dst.len() + srcs.iter().map(|s| s.bytes.len()).sum::<usize>();
    // Only a large job looks the pool up: finding it asks the system for the process id.
    if touched >= PARALLEL_BYTES && n >= 2 * BLOCK {
        sum_large(dst, dst_dtype, srcs, order);
    } else {
        sum_serial(dst, dst_dtype, srcs, order);
    }
}

/// [`sum_into`] `dst`, and the same bits into `copy` (of as many bytes): in one pass when
/// two sources of the destination's dtype are added (a serverless sum writes each sum
/// where the other workers read it and into the worker's own value).
pub fn sum_into_both(
    dst: &mut [u8],
    copy: &mut [u8],
    dst_dtype: DType,
    srcs: &[Elems<'_>],
    order: SumOrder,
) {
    if let Some((pair, a, b)) = native_pair(dst_dtype, srcs) {
        return pair(dst, Some(copy), a, b);
    }
    sum_into(dst, dst_dtype, srcs, order);
    copy.copy_from_slice(dst);
}

/// `dst = a + b` (and `copy` the same, when given), element by element: what [`native`]
/// makes of two sources, in any order.
pub type Pair = fn(&mut [u8], Option<&mut [u8]>, &[u8], &[u8]);

/// The [`Pair`] loop of `dtype`, when it is one added in its own arithmetic: what
/// [`sum_into`] and [`sum_into_both`] use for two sources of the destination's dtype (a
/// caller summing many runs of one dtype looks it up once).
pub fn pair_loop(dtype: DType) -> Option<Pair> {
    Some(match dtype {
        DType::F32 => pair::<f32>,
        DType::F64 => pair::<f64>,
        DType::I32 => pair::<i32>,
        DType::I64 => pair::<i64>,
        _ => return None,
    })
}

/// The [`Pair`] loop for `srcs` when they are two sources of `dtype`, one it adds in its
/// own arithmetic, with their bytes.
fn native_pair<'a>(dtype: DType, srcs: &[Elems<'a>]) -> Option<(Pair, &'a [u8], &'a [u8])> {
    let [a, b] = srcs else {
        return None;
    };
    if a.dtype != dtype || b.dtype != dtype {
        return None;
    }
    Some((pair_loop(dtype)?, a.bytes, b.bytes))
}

fn pair<T: NativeAdd>(dst: &mut [u8], copy: Option<&mut [u8]>, a: &[u8], b: &[u8]) {
    let dst: &mut [T] = bytemuck::cast_slice_mut(dst);
    let (a, b): (&[T], &[T]) = (bytemuck::cast_slice(a), bytemuck::cast_slice(b));
    let sums = a.iter().zip(b).map(|(&x, &y)| x.add(y));
    match copy {
        None => dst.iter_mut().zip(sums).for_each(|(d, sum)| *d = sum),
        Some(copy) => {
            let copy: &mut [T] = bytemuck::cast_slice_mut(copy);
            assert_eq!(
                dst.len(),
                copy.len(),
                "a sum and its copy of different lengths"
            );
            for ((d, c), sum) in dst.iter_mut().zip(copy).zip(sums) {
                *d = sum;
                *c = sum;
            }
        }
    }
}

/// A sum large enough to be split over the pool, when it has two threads or more.
#[inline(never)]
fn sum_large(dst: &mut [u8], dst_dtype: DType, srcs: &[Elems<'_>], order: SumOrder) {
    let n = dst.len() / dst_dtype.size();
    let pool = match crate::pool::pool() {
        Some(p) if p.current_num_threads() >= 2 => p,
        _ => {
            sum_serial(dst, dst_dtype, srcs, order);
            return;
        }
    };
    let threads = pool.current_num_threads();
    // Pieces of whole blocks, one per thread.
    let per = n.div_ceil(threads).div_ceil(BLOCK) * BLOCK;
    let esize = dst_dtype.size();
    let piece_sum = |i: usize, piece: &mut [u8]| {
        let start = i * per;
        let r = start..start + piece.len() / esize;
        let parts: Vec<Elems<'_>> = srcs.iter().map(|s| s.range(&r)).collect();
        sum_serial(piece, dst_dtype, &parts, order);
    };
    // The calling thread sums the first piece itself (its caches hold the data it just
    // wrote); pool threads take the others: one thread hop, not two.
    pool.in_place_scope(|scope| {
        let mut pieces = dst.chunks_mut(per * esize).enumerate();
        let first = pieces.next();
        for (i, piece) in pieces {
            scope.spawn(move |_| piece_sum(i, piece));
        }
        if let Some((i, piece)) = first {
            piece_sum(i, piece);
        }
    });
}

/// The sum on this thread. A copy (the one source has the destination's dtype: every
/// pull, a push of one value) goes straight to `memcpy`, and a sum of two sources of the
/// destination's dtype to one loop, clear of the dtype dispatch: both are run many times
/// over small arrays (a serverless sum of many keys adds two workers' values array by
/// array).
#[inline]
fn sum_serial(dst: &mut [u8], dst_dtype: DType, srcs: &[Elems<'_>], order: SumOrder) {
    if let [only] = srcs {
        if only.dtype == dst_dtype {
            return dst.copy_from_slice(only.bytes);
        }
    }
    match native_pair(dst_dtype, srcs) {
        Some((pair, a, b)) => pair(dst, None, a, b),
        None => sum_by_dtype(dst, dst_dtype, srcs, order),
    }
}

#[inline(never)]
fn sum_by_dtype(dst: &mut [u8], dst_dtype: DType, srcs: &[Elems<'_>], order: SumOrder) {
    let same = srcs.iter().all(|s| s.dtype == dst_dtype);
    match dst_dtype {
        DType::F32 if same => native::<f32>(dst, srcs, order),
        DType::F64 if same => native::<f64>(dst, srcs, order),
        DType::I32 if same => native::<i32>(dst, srcs, order),
        DType::I64 if same => native::<i64>(dst, srcs, order),
        DType::F32 | DType::F16 | DType::BF16 => {
            with_dtype!(dst_dtype, D => accumulate::<D, f32>(dst, srcs, order))
        }
        DType::F64 => accumulate::<f64, f64>(dst, srcs, order),
        _ => with_dtype!(dst_dtype, D => accumulate::<D, i64>(dst, srcs, order)),
    }
}

/// Addition in a type's own arithmetic (wrapping for integers, as C's unsigned sums).
trait NativeAdd: Element {
    fn add(self, other: Self) -> Self;
}

impl NativeAdd for f32 {
    #[inline(always)]
    fn add(self, o: f32) -> f32 {
        self + o
    }
}
impl NativeAdd for f64 {
    #[inline(always)]
    fn add(self, o: f64) -> f64 {
        self + o
    }
}
impl NativeAdd for i32 {
    #[inline(always)]
    fn add(self, o: i32) -> i32 {
        self.wrapping_add(o)
    }
}
impl NativeAdd for i64 {
    #[inline(always)]
    fn add(self, o: i64) -> i64 {
        self.wrapping_add(o)
    }
}

/// All sources already have the destination's type: add in place, block by block.
fn native<T: NativeAdd>(dst: &mut [u8], srcs: &[Elems<'_>], order: SumOrder) {
    let dst: &mut [T] = bytemuck::cast_slice_mut(dst);
    let srcs: SmallVec<[&[T]; 8]> = srcs
        .iter()
        .map(|s| bytemuck::cast_slice::<u8, T>(s.bytes))
        .collect();
    for (b, block) in dst.chunks_mut(BLOCK).enumerate() {
        let r = b * BLOCK..b * BLOCK + block.len();
        block.copy_from_slice(&srcs[0][r.clone()]);
        for group in srcs[1..].chunks(order.group()) {
            add_group(block, group, &r);
        }
    }
}

/// `block += ((g0 + g1) + g2) + g3` over the elements `r` of a group of one to four sources.
#[inline(always)]
fn add_group<T: NativeAdd>(block: &mut [T], group: &[&[T]], r: &Range<usize>) {
    let it = block.iter_mut();
    match group {
        [a] => {
            for (d, &a) in it.zip(&a[r.clone()]) {
                *d = d.add(a);
            }
        }
        [a, b] => {
            for ((d, &a), &b) in it.zip(&a[r.clone()]).zip(&b[r.clone()]) {
                *d = d.add(a.add(b));
            }
        }
        [a, b, c] => {
            let abc = a[r.clone()].iter().zip(&b[r.clone()]).zip(&c[r.clone()]);
            for (d, ((&a, &b), &c)) in it.zip(abc) {
                *d = d.add(a.add(b).add(c));
            }
        }
        _ => {
            let (a, b, c, e) = (
                &group[0][r.clone()],
                &group[1][r.clone()],
                &group[2][r.clone()],
                &group[3][r.clone()],
            );
            let abce = a.iter().zip(b).zip(c).zip(e);
            for (d, (((&a, &b), &c), &e)) in it.zip(abce) {
                *d = d.add(a.add(b).add(c).add(e));
            }
        }
    }
}

/// The accumulator of a converting sum.
trait Accumulator: Copy + Default {
    fn of<E: Element>(e: E) -> Self;
    fn plus(self, other: Self) -> Self;
    fn to<E: Element>(self) -> E;
}

impl Accumulator for f32 {
    #[inline(always)]
    fn of<E: Element>(e: E) -> f32 {
        e.to_f32()
    }
    #[inline(always)]
    fn plus(self, o: f32) -> f32 {
        self + o
    }
    #[inline(always)]
    fn to<E: Element>(self) -> E {
        E::from_f32(self)
    }
}

impl Accumulator for f64 {
    #[inline(always)]
    fn of<E: Element>(e: E) -> f64 {
        e.to_f64()
    }
    #[inline(always)]
    fn plus(self, o: f64) -> f64 {
        self + o
    }
    #[inline(always)]
    fn to<E: Element>(self) -> E {
        E::from_f64(self)
    }
}

impl Accumulator for i64 {
    #[inline(always)]
    fn of<E: Element>(e: E) -> i64 {
        e.to_i64()
    }
    #[inline(always)]
    fn plus(self, o: i64) -> i64 {
        self.wrapping_add(o)
    }
    #[inline(always)]
    fn to<E: Element>(self) -> E {
        E::from_i64(self)
    }
}

/// Converting sum: every source is widened into the accumulator and added in `order`; the
/// total is narrowed once.
fn accumulate<D: Element, A: Accumulator>(dst: &mut [u8], srcs: &[Elems<'_>], order: SumOrder) {
    let dst: &mut [D] = bytemuck::cast_slice_mut(dst);
    let (mut acc, mut part) = ([A::default(); BLOCK], [A::default(); BLOCK]);
    for (b, block) in dst.chunks_mut(BLOCK).enumerate() {
        let r = b * BLOCK..b * BLOCK + block.len();
        let (acc, part) = (&mut acc[..block.len()], &mut part[..block.len()]);
        widen(acc, &srcs[0], &r, |_, x| x);
        for group in srcs[1..].chunks(order.group()) {
            widen(part, &group[0], &r, |_, x| x);
            for src in &group[1..] {
                widen(part, src, &r, A::plus);
            }
            for (a, &p) in acc.iter_mut().zip(part.iter()) {
                *a = a.plus(p);
            }
        }
        for (d, a) in block.iter_mut().zip(acc.iter()) {
            *d = a.to::<D>();
        }
    }
}

/// `out[i] = f(out[i], src[r][i] widened)` for each element of the block.
#[inline(always)]
fn widen<A: Accumulator>(out: &mut [A], src: &Elems<'_>, r: &Range<usize>, f: impl Fn(A, A) -> A) {
    with_dtype!(src.dtype, S => {
        let s: &[S] = bytemuck::cast_slice(src.bytes);
        for (o, &x) in out.iter_mut().zip(&s[r.clone()]) {
            *o = f(*o, A::of(x));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    fn bytes<T: bytemuck::Pod>(v: &[T]) -> Vec<u8> {
        bytemuck::cast_slice(v).to_vec()
    }

    #[test]
    fn sums_float32_sources_in_one_pass() {
        let n = 3 * BLOCK + 5;
        let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..n).map(|i| 2.0 * i as f32).collect();
        let (ab, bb) = (bytes(&a), bytes(&b));
        let mut out = vec![0u8; n * 4];
        let srcs = [
            Elems {
                bytes: &ab,
                dtype: DType::F32,
            },
            Elems {
                bytes: &bb,
                dtype: DType::F32,
            },
        ];
        sum_into(&mut out, DType::F32, &srcs, SumOrder::GroupsOfFour);
        let out: &[f32] = bytemuck::cast_slice(&out);
        assert!(out.iter().enumerate().all(|(i, &v)| v == 3.0 * i as f32));
    }

    #[test]
    fn two_sources_of_the_destinations_dtype_sum_as_the_general_kernel_does() {
        // Values whose sums round (floats) or wrap (integers), summed by the two-source
        // loop and by the dispatching kernel.
        fn check<T: bytemuck::Pod + PartialEq + std::fmt::Debug>(dtype: DType, a: &[T], b: &[T]) {
            let (ab, bb) = (bytes(a), bytes(b));
            let srcs = [Elems { bytes: &ab, dtype }, Elems { bytes: &bb, dtype }];
            let (mut fast, mut general) = (vec![0u8; ab.len()], vec![0u8; ab.len()]);
            sum_into(&mut fast, dtype, &srcs, SumOrder::Sequential);
            sum_by_dtype(&mut general, dtype, &srcs, SumOrder::Sequential);
            assert_eq!(fast, general, "{dtype:?}");
            assert_ne!(fast, ab, "{dtype:?}: the sum was made");
        }
        let n = 1000;
        let f: Vec<f32> = (0..n).map(|i| 1e8 + i as f32 * 0.37).collect();
        let g: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 1.7).collect();
        check(DType::F32, &f, &g);
        let f: Vec<f64> = f.iter().map(|&x| x as f64 * 1e9).collect();
        check(
            DType::F64,
            &f,
            &g.iter().map(|&x| x as f64).collect::<Vec<_>>(),
        );
        let i: Vec<i32> = (0..n).map(|k| i32::MAX - k as i32).collect();
        check(
            DType::I32,
            &i,
            &(0..n).map(|k| 7 + k as i32).collect::<Vec<_>>(),
        );
        let l: Vec<i64> = (0..n).map(|k| i64::MIN + k as i64).collect();
        check(
            DType::I64,
            &l,
            &(0..n).map(|k| -3 - k as i64).collect::<Vec<_>>(),
        );
    }

    /// The sum of `srcs` by [`sum_into`], and the two copies [`sum_into_both`] writes (into
    /// buffers that start with different bytes), each of `nbytes`.
    fn summed_once_and_twice(
        dtype: DType,
        srcs: &[Elems<'_>],
        nbytes: usize,
    ) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let mut want = vec![0u8; nbytes];
        sum_into(&mut want, dtype, srcs, SumOrder::Sequential);
        let (mut first, mut second) = (vec![1u8; nbytes], vec![2u8; nbytes]);
        sum_into_both(&mut first, &mut second, dtype, srcs, SumOrder::Sequential);
        (want, first, second)
    }

    #[test]
    fn a_sum_written_twice_has_the_same_bits_in_both_places() {
        let n = 777;
        let a: Vec<f32> = (0..n).map(|i| 1e7 + i as f32 * 0.3).collect();
        let b: Vec<f32> = (0..n).map(|i| 0.7 - i as f32).collect();
        let c: Vec<f32> = (0..n).map(|i| i as f32 * 1e-3).collect();
        let all = [bytes(&a), bytes(&b), bytes(&c)];
        // Two float32 sources (the one-pass loop), three (the general kernel, then a copy).
        for k in [2, 3] {
            let elems = f32_elems(&all[..k]);
            let (want, first, second) = summed_once_and_twice(DType::F32, &elems, n * 4);
            assert_eq!(first, want, "{k} sources");
            assert_eq!(second, want, "{k} sources");
        }
        // Float16 sources go through the general kernel too.
        let h: Vec<f16> = (0..n).map(|i| f16::from_f32(i as f32 * 0.5)).collect();
        let hb = bytes(&h);
        let halves = [hb.as_slice(), hb.as_slice()].map(|bytes| Elems {
            bytes,
            dtype: DType::F16,
        });
        let (want, first, second) = summed_once_and_twice(DType::F16, &halves, n * 2);
        assert_eq!((first == want, second == want), (true, true));
    }

    #[test]
    fn large_sums_split_over_threads_give_the_same_result() {
        let n = 1 << 20;
        let srcs: Vec<Vec<u8>> = (0..4).map(|k| bytes(&vec![k as f32 + 0.5; n])).collect();
        let elems: Vec<Elems<'_>> = srcs
            .iter()
            .map(|b| Elems {
                bytes: b,
                dtype: DType::F32,
            })
            .collect();
        let mut out = vec![0u8; n * 4];
        sum_into(&mut out, DType::F32, &elems, SumOrder::GroupsOfFour);
        let out: &[f32] = bytemuck::cast_slice(&out);
        assert!(out.iter().all(|&v| v == 8.0));
    }

    fn f32_elems(v: &[Vec<u8>]) -> Vec<Elems<'_>> {
        v.iter()
            .map(|b| Elems {
                bytes: b,
                dtype: DType::F32,
            })
            .collect()
    }

    #[test]
    fn sums_add_in_the_order_of_mxnets_reduce() {
        // 1 + 1e8 - 1e8 ...: the result depends on which additions happen first.
        let vals = [1.0f32, 1e8, -1e8, 1.0, 3.0, -1e8, 1e8, 0.5];
        let srcs: Vec<Vec<u8>> = vals.iter().map(|&v| bytes(&[v; 5000])).collect();
        let sum = |order| {
            let mut out = vec![0u8; 5000 * 4];
            sum_into(&mut out, DType::F32, &f32_elems(&srcs), order);
            let out: Vec<f32> = bytemuck::cast_slice(&out).to_vec();
            assert!(out.iter().all(|&v| v == out[0]));
            out[0]
        };
        // CommCPU: v0 + (((v1 + v2) + v3) + v4) + ((v5 + v6) + v7).
        let grouped = 1.0f32 + (((1e8f32 + -1e8) + 1.0) + 3.0) + ((-1e8f32 + 1e8) + 0.5);
        // ElementwiseSum: left to right.
        let sequential = vals.iter().skip(1).fold(vals[0], |a, &v| a + v);
        assert_eq!(grouped, 5.5);
        assert_eq!(sequential, 0.5);
        assert_eq!(sum(SumOrder::GroupsOfFour).to_bits(), grouped.to_bits());
        assert_eq!(sum(SumOrder::Sequential).to_bits(), sequential.to_bits());
        // The same orders when the sources are converted (float64 into a float32 sum).
        let wide: Vec<Vec<u8>> = vals.iter().map(|&v| bytes(&[v as f64; 3])).collect();
        let elems: Vec<Elems<'_>> = wide
            .iter()
            .map(|b| Elems {
                bytes: b,
                dtype: DType::F64,
            })
            .collect();
        for (order, want) in [
            (SumOrder::GroupsOfFour, grouped),
            (SumOrder::Sequential, sequential),
        ] {
            let mut out = vec![0u8; 12];
            sum_into(&mut out, DType::F32, &elems, order);
            assert_eq!(bytemuck::cast_slice::<u8, f32>(&out), &[want; 3]);
        }
    }

    #[test]
    fn large_sums_split_over_threads_keep_the_order() {
        let n = 1 << 20;
        let vals = [1.0f32, 1e8, -1e8, 1.0, 3.0, -1e8, 1e8, 0.5];
        let srcs: Vec<Vec<u8>> = vals.iter().map(|&v| bytes(&vec![v; n])).collect();
        let mut out = vec![0u8; n * 4];
        sum_into(
            &mut out,
            DType::F32,
            &f32_elems(&srcs),
            SumOrder::GroupsOfFour,
        );
        assert!(bytemuck::cast_slice::<u8, f32>(&out)
            .iter()
            .all(|&v| v == 5.5));
    }

    #[test]
    fn half_precision_sums_accumulate_in_float32() {
        // 2048 + 1 + 1 in float16 steps would stay 2048 (spacing 2); summed in f32 it is 2050.
        let a = bytes(&[f16::from_f32(2048.0)]);
        let one = bytes(&[f16::from_f32(1.0)]);
        let mut out = vec![0u8; 2];
        let srcs = [
            Elems {
                bytes: &a,
                dtype: DType::F16,
            },
            Elems {
                bytes: &one,
                dtype: DType::F16,
            },
            Elems {
                bytes: &one,
                dtype: DType::F16,
            },
        ];
        sum_into(&mut out, DType::F16, &srcs, SumOrder::GroupsOfFour);
        assert_eq!(bytemuck::cast_slice::<u8, f16>(&out)[0].to_f32(), 2050.0);
        let b = bytes(&[bf16::from_f32(1.5)]);
        let mut out = vec![0u8; 2];
        sum_into(
            &mut out,
            DType::BF16,
            &[
                Elems {
                    bytes: &b,
                    dtype: DType::BF16,
                },
                Elems {
                    bytes: &b,
                    dtype: DType::BF16,
                },
            ],
            SumOrder::Sequential,
        );
        assert_eq!(bytemuck::cast_slice::<u8, bf16>(&out)[0].to_f32(), 3.0);
    }

    #[test]
    fn converting_copy_between_dtypes() {
        let a = bytes(&[1.75f64, -2.5, 3.0]);
        let mut out = vec![0u8; 12];
        sum_into(
            &mut out,
            DType::I32,
            &[Elems {
                bytes: &a,
                dtype: DType::F64,
            }],
            SumOrder::Sequential,
        );
        assert_eq!(bytemuck::cast_slice::<u8, i32>(&out), &[1, -2, 3]);
        let i = bytes(&[7i64, 0, -1]);
        let mut out = vec![0u8; 3];
        sum_into(
            &mut out,
            DType::Bool,
            &[Elems {
                bytes: &i,
                dtype: DType::I64,
            }],
            SumOrder::Sequential,
        );
        assert_eq!(out, vec![1, 0, 1]);
    }

    #[test]
    fn integer_sums_wrap() {
        let a = bytes(&[i32::MAX]);
        let mut out = vec![0u8; 4];
        sum_into(
            &mut out,
            DType::I32,
            &[
                Elems {
                    bytes: &a,
                    dtype: DType::I32,
                },
                Elems {
                    bytes: &a,
                    dtype: DType::I32,
                },
            ],
            SumOrder::Sequential,
        );
        assert_eq!(bytemuck::cast_slice::<u8, i32>(&out)[0], -2);
    }
}
