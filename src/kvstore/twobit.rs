//! MXNet's 2-bit gradient quantisation (reference §3.8) on plain slices: the arithmetic and
//! the packed form, with no store around them, so that local reductions and the
//! distributed engines send and read exactly the same words.
//!
//! Each value `g` is added to its residual `r`; if `r >= t` the word carries `+t` (bits
//! `11`) and `r -= t`, else if `r <= -t` it carries `-t` (bits `10`) and `r += t`, else `0`
//! (bits `00`). Sixteen values share one 32-bit word: value `j` of a block sits in byte
//! `j / 4` of the word, in the two bits `0xc0 >> 2 * (j % 4)` of that byte. The words are
//! MXNet's bytes when written little-endian (`u32::to_le_bytes`), as they are in memory
//! on the little-endian machines MXNet ran on. A packed array of `n` values has
//! [`packed_len`]`(n)` words; the bits past `n` in the last word are zero.
//!
//! The loops are branch-free over fixed blocks of sixteen so that the compiler turns them
//! into vector code.

/// Values per packed word.
pub(crate) const VALUES_PER_WORD: usize = 16;

/// Words needed for `n` values: `ceil(n / 16)` (MXNet's `GetCompressedSize`).
pub fn packed_len(n: usize) -> usize {
    n.div_ceil(VALUES_PER_WORD)
}

/// The two bits meaning `+t`, for each value of a block, in place in the word.
const POS: [u32; VALUES_PER_WORD] = bit_masks(0xc0);
/// The bit pattern `10` meaning `-t`, likewise.
const NEG: [u32; VALUES_PER_WORD] = bit_masks(0x80);

const fn bit_masks(first: u32) -> [u32; VALUES_PER_WORD] {
    let mut masks = [0; VALUES_PER_WORD];
    let mut j = 0;
    while j < VALUES_PER_WORD {
        masks[j] = (first >> (2 * (j % 4))) << (8 * (j / 4));
        j += 1;
    }
    masks
}

/// Quantises `grad` with the residuals `residual` (updated in place) and threshold `t` into
/// `packed`. `grad` and `residual` have the same length, `packed` has [`packed_len`] of it.
pub fn quantize(grad: &[f32], residual: &mut [f32], t: f32, packed: &mut [u32]) {
    assert_eq!(grad.len(), residual.len(), "one residual per value");
    assert_eq!(packed.len(), packed_len(grad.len()), "packed length");
    let whole = grad.len() / VALUES_PER_WORD * VALUES_PER_WORD;
    let (grad_body, grad_tail) = grad.split_at(whole);
    let (res_body, res_tail) = residual.split_at_mut(whole);
    let blocks = grad_body
        .chunks_exact(VALUES_PER_WORD)
        .zip(res_body.chunks_exact_mut(VALUES_PER_WORD));
    for ((g, r), word) in blocks.zip(packed.iter_mut()) {
        *word = quantize_block(g.try_into().unwrap(), r.try_into().unwrap(), t);
    }
    if !grad_tail.is_empty() {
        // Padding values are 0 with residual 0: below any threshold, so their bits stay 0.
        let (mut g, mut r) = ([0.0; VALUES_PER_WORD], [0.0; VALUES_PER_WORD]);
        g[..grad_tail.len()].copy_from_slice(grad_tail);
        r[..res_tail.len()].copy_from_slice(res_tail);
        packed[packed.len() - 1] = quantize_block(&g, &mut r, t);
        res_tail.copy_from_slice(&r[..res_tail.len()]);
    }
}

/// Writes the values that `packed` carries (each `+t`, `-t` or `0`) into `out`.
pub fn dequantize(packed: &[u32], t: f32, out: &mut [f32]) {
    expand(packed, t, out, |dst, v| *dst = v);
}

/// Adds the values that `packed` carries onto `out` (how a sum of several senders' packed
/// gradients is formed, in the order they are added).
pub fn dequantize_add(packed: &[u32], t: f32, out: &mut [f32]) {
    expand(packed, t, out, |dst, v| *dst += v);
}

#[inline(always)]
fn expand(packed: &[u32], t: f32, out: &mut [f32], store: impl Fn(&mut f32, f32)) {
    assert_eq!(packed.len(), packed_len(out.len()), "packed length");
    let whole = out.len() / VALUES_PER_WORD * VALUES_PER_WORD;
    let (body, tail) = out.split_at_mut(whole);
    for (block, &word) in body.chunks_exact_mut(VALUES_PER_WORD).zip(packed) {
        let values = dequantize_block(word, t);
        for (dst, v) in block.iter_mut().zip(values) {
            store(dst, v);
        }
    }
    if !tail.is_empty() {
        let values = dequantize_block(packed[packed.len() - 1], t);
        for (dst, v) in tail.iter_mut().zip(values) {
            store(dst, v);
        }
    }
}

#[inline(always)]
fn quantize_block(
    grad: &[f32; VALUES_PER_WORD],
    residual: &mut [f32; VALUES_PER_WORD],
    t: f32,
) -> u32 {
    let mut bits = [0u32; VALUES_PER_WORD];
    for j in 0..VALUES_PER_WORD {
        let r = residual[j] + grad[j];
        let pos = r >= t;
        let neg = r <= -t;
        // `r - 0.0` is `r` bit for bit (also -0.0 and NaN), as MXNet leaves it untouched.
        residual[j] = r - if pos {
            t
        } else if neg {
            -t
        } else {
            0.0
        };
        bits[j] = (POS[j] & (pos as u32).wrapping_neg()) | (NEG[j] & (neg as u32).wrapping_neg());
    }
    bits.iter().fold(0, |word, b| word | b)
}

#[inline(always)]
fn dequantize_block(word: u32, t: f32) -> [f32; VALUES_PER_WORD] {
    let mut values = [0.0; VALUES_PER_WORD];
    for j in 0..VALUES_PER_WORD {
        // `11` is +t, `10` is -t; `00` and `01` (never written) are 0, as in MXNet.
        let bits = word & POS[j];
        values[j] = if bits == POS[j] {
            t
        } else if bits == NEG[j] {
            -t
        } else {
            0.0
        };
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MXNet's element-at-a-time rule, written out, to compare the block kernel with.
    fn reference(grad: &[f32], residual: &mut [f32], t: f32) -> (Vec<u8>, Vec<f32>) {
        let mut bytes = vec![0u8; packed_len(grad.len()) * 4];
        let mut sent = vec![0.0; grad.len()];
        for i in 0..grad.len() {
            residual[i] += grad[i];
            let byte = &mut bytes[(i / 16) * 4 + (i % 16) / 4];
            if residual[i] >= t {
                *byte |= [0xc0, 0x30, 0x0c, 0x03][i % 4];
                residual[i] -= t;
                sent[i] = t;
            } else if residual[i] <= -t {
                *byte |= [0x80, 0x20, 0x08, 0x02][i % 4];
                residual[i] += t;
                sent[i] = -t;
            }
        }
        (bytes, sent)
    }

    fn le_bytes(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn sizes() {
        assert_eq!(packed_len(0), 0);
        assert_eq!(packed_len(1), 1);
        assert_eq!(packed_len(16), 1);
        assert_eq!(packed_len(17), 2);
        assert_eq!(packed_len(1_000_000), 62_500);
    }

    #[test]
    fn first_value_takes_the_top_bits_of_the_first_byte() {
        let mut residual = [0.0f32; 3];
        let mut packed = [0u32; 1];
        quantize(&[1.0, -1.0, 0.2], &mut residual, 0.5, &mut packed);
        assert_eq!(le_bytes(&packed), [0b1110_0000, 0, 0, 0]);
        assert_eq!(residual, [0.5, -0.5, 0.2]);
        let mut out = [9.0f32; 3];
        dequantize(&packed, 0.5, &mut out);
        assert_eq!(out, [0.5, -0.5, 0.0]);
    }

    #[test]
    fn a_steady_value_below_the_threshold_is_sent_in_turns() {
        // 0.3 with threshold 0.5, pushed again and again: 0, 0.5, 0, 0.5, 0.5 (MXNet 1.9.1).
        let mut residual = [0.0f32];
        let mut packed = [0u32];
        let mut sent = Vec::new();
        for _ in 0..5 {
            quantize(&[0.3], &mut residual, 0.5, &mut packed);
            let mut out = [0.0f32];
            dequantize(&packed, 0.5, &mut out);
            sent.push(out[0]);
        }
        assert_eq!(sent, [0.0, 0.5, 0.0, 0.5, 0.5]);
    }

    #[test]
    fn blocks_and_tails_match_the_element_rule_bit_for_bit() {
        let mut seed = 12345u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 * 4.0 - 2.0
        };
        for n in [1, 5, 15, 16, 17, 31, 32, 33, 100, 1000] {
            let grad: Vec<f32> = (0..n).map(|_| next()).collect();
            let start: Vec<f32> = (0..n).map(|_| next() * 0.25).collect();
            let (mut ours, mut theirs) = (start.clone(), start.clone());
            let mut packed = vec![0u32; packed_len(n)];
            quantize(&grad, &mut ours, 0.7, &mut packed);
            let (bytes, sent) = reference(&grad, &mut theirs, 0.7);
            assert_eq!(le_bytes(&packed), bytes, "n = {n}");
            assert_eq!(
                ours.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                theirs.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "residuals, n = {n}"
            );
            let mut out = vec![f32::NAN; n];
            dequantize(&packed, 0.7, &mut out);
            assert_eq!(out, sent, "n = {n}");
            let mut sum = vec![1.0f32; n];
            dequantize_add(&packed, 0.7, &mut sum);
            let expected: Vec<f32> = sent.iter().map(|v| 1.0 + v).collect();
            assert_eq!(sum, expected, "n = {n}");
        }
    }

    #[test]
    fn nan_and_infinity_as_mxnet() {
        // NaN never crosses a threshold and stays in the residual; ±inf always does.
        let mut residual = [0.0, 0.0, 0.0, -0.0f32];
        let mut packed = [0u32];
        quantize(
            &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0],
            &mut residual,
            0.5,
            &mut packed,
        );
        let mut out = [1.0f32; 4];
        dequantize(&packed, 0.5, &mut out);
        assert_eq!(out, [0.0, 0.5, -0.5, 0.0]);
        assert!(residual[0].is_nan());
        assert_eq!(residual[1], f32::INFINITY);
        assert_eq!(residual[2], f32::NEG_INFINITY);
        assert_eq!(residual[3].to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn the_unused_pattern_01_reads_as_zero() {
        let mut out = [7.0f32; 2];
        dequantize(&[0b0101_0000], 1.0, &mut out);
        assert_eq!(out, [0.0, 0.0]);
    }
}
