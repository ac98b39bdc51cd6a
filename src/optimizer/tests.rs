//! The update operators against MXNet 1.9.1: `c-tests/fixtures/optimizer/` holds arrays
//! before and after one update by the real MXNet (see `make_optimizer_fixtures.py` there),
//! for every operator and dtype. Rule of comparison: every element of every output array
//! (weight and states) is bitwise MXNet's — float32, float64 and float16 alike (the
//! arithmetic is MXNet's, operation by operation); a difference is reported in units in
//! the last place.

use super::*;
use crate::ndarray::io;
use crate::ndarray::{DType, NDArray};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/c-tests/fixtures/optimizer");

/// A float's position on the number line, so that neighbours differ by one.
fn ordinal(bits: i64, width: u32) -> i64 {
    let sign = 1i64 << (width - 1);
    if bits & sign != 0 {
        -(bits & (sign - 1))
    } else {
        bits
    }
}

fn ordinals(a: &NDArray) -> Vec<i64> {
    let bytes = a.to_bytes().unwrap();
    match a.dtype() {
        DType::F32 => bytemuck::cast_slice::<u8, i32>(&bytes)
            .iter()
            .map(|&b| ordinal(b as u32 as i64, 32))
            .collect(),
        DType::F64 => bytemuck::cast_slice::<u8, i64>(&bytes)
            .iter()
            .map(|&b| if b < 0 { -(b & i64::MAX) } else { b })
            .collect(),
        DType::F16 => bytemuck::cast_slice::<u8, i16>(&bytes)
            .iter()
            .map(|&b| ordinal(b as u16 as i64, 16))
            .collect(),
        d => panic!("unexpected dtype {}", d.name()),
    }
}

struct Case {
    name: String,
    op: String,
    params: Vec<(String, String)>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/cases.txt")).unwrap();
    text.lines()
        .map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next().unwrap().to_string();
            let op = words.next().unwrap().to_string();
            let params = words
                .map(|w| {
                    let (k, v) = w.split_once('=').unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect();
            Case { name, op, params }
        })
        .collect()
}

/// Runs one case; returns the largest distance in ulps over all output elements.
fn run_case(case: &Case) -> u64 {
    let (arrays, names) = io::load_file(&format!("{FIXTURES}/{}.params", case.name)).unwrap();
    let get = |prefix: &str| -> Vec<(String, NDArray)> {
        names
            .iter()
            .zip(&arrays)
            .filter_map(|(n, a)| n.strip_prefix(prefix).map(|n| (n.to_string(), a.clone())))
            .collect()
    };
    let rule = Rule::parse(
        &case.op,
        &case
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let inputs = get("in:");
    let by_name = |list: &[(String, NDArray)], name: &str| {
        list.iter().find(|(n, _)| n == name).unwrap().1.clone()
    };
    let ordered: Vec<NDArray> = rule
        .array_names()
        .iter()
        .map(|n| by_name(&inputs, n))
        .collect();
    rule.apply(&ordered.iter().collect::<Vec<_>>()).unwrap();
    let expected = get("out:");
    let mut worst = 0;
    for (name, got) in rule.array_names().iter().zip(&ordered) {
        let want = by_name(&expected, name);
        for (i, (g, w)) in ordinals(got).into_iter().zip(ordinals(&want)).enumerate() {
            let d = g.abs_diff(w);
            if d > worst {
                eprintln!("{}: {name}[{i}] differs by {d} ulp", case.name);
                worst = d;
            }
        }
    }
    worst
}

#[test]
fn every_operator_and_dtype_gives_mxnets_results() {
    let cases = cases();
    assert!(cases.len() > 90, "only {} fixture cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let worst = run_case(case);
        if worst > 0 {
            failures.push(format!("{} ({worst} ulp)", case.name));
        }
    }
    assert!(failures.is_empty(), "differ from MXNet: {failures:#?}");
}

fn f32_array(values: &[f32]) -> NDArray {
    let a = NDArray::new(
        crate::ndarray::Shape(vec![values.len() as i64]),
        DType::F32,
        crate::ndarray::Context::cpu(0),
    )
    .unwrap();
    a.copy_from_bytes(bytemuck::cast_slice(values), values.len())
        .unwrap();
    a
}

fn f32_values(a: &NDArray) -> Vec<f32> {
    bytemuck::cast_slice(&a.to_bytes().unwrap()).to_vec()
}

#[test]
fn large_arrays_split_across_threads_give_the_serial_results() {
    let n = 300_001;
    let w: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let g: Vec<f32> = (0..n)
        .map(|i| ((i * 104729) % 997) as f32 / 100.0 - 5.0)
        .collect();
    let m: Vec<f32> = (0..n).map(|i| (i % 13) as f32 / 13.0).collect();
    let v: Vec<f32> = (0..n).map(|i| (i % 17) as f32 / 17.0 + 0.5).collect();
    let params = [("lr", "0.1"), ("wd", "0.01"), ("clip_gradient", "4")];
    let whole: Vec<NDArray> = [&w, &g, &m, &v].iter().map(|x| f32_array(x)).collect();
    apply("adam_update", &whole.iter().collect::<Vec<_>>(), &params).unwrap();
    // The same update in pieces small enough never to be split.
    for start in (0..n).step_by(1000) {
        let end = (start + 1000).min(n);
        let piece: Vec<NDArray> = [&w, &g, &m, &v]
            .iter()
            .map(|x| f32_array(&x[start..end]))
            .collect();
        apply("adam_update", &piece.iter().collect::<Vec<_>>(), &params).unwrap();
        for (a, b) in whole.iter().zip(&piece) {
            assert_eq!(f32_values(a)[start..end], f32_values(b)[..]);
        }
    }
}

/// A bad call: operator, arrays, parameters, and a part of the message it must give.
type BadCall<'a> = (&'a str, Vec<&'a NDArray>, Vec<(&'a str, &'a str)>, &'a str);

/// Each bad call fails with the given message and leaves every array as it was.
#[test]
fn bad_calls_fail_with_a_message_and_change_nothing() {
    let w = f32_array(&[1.0, 2.0, 3.0]);
    let g = f32_array(&[0.5, 0.5, 0.5]);
    let mom = f32_array(&[0.0, 0.0, 0.0]);
    let short = f32_array(&[1.0, 2.0]);
    let w64 = NDArray::new(
        crate::ndarray::Shape(vec![3]),
        DType::F64,
        crate::ndarray::Context::cpu(0),
    )
    .unwrap();
    let lr = [("lr", "0.1")];
    let cases: Vec<BadCall> = vec![
        ("sgd_mom", vec![&w, &g, &mom], lr.to_vec(), "unknown update operator 'sgd_mom'"),
        (
            "sgd_mom_update",
            vec![&w, &g, &mom],
            vec![("lr", "fast")],
            "Invalid Parameter format for lr expect float but value='fast', in operator sgd_mom_update",
        ),
        (
            "sgd_mom_update",
            vec![&w, &g, &mom],
            vec![],
            "Required parameter lr of float is not presented, in operator sgd_mom_update",
        ),
        (
            "sgd_update",
            vec![&w, &g],
            vec![("lr", "0.1"), ("momentum", "0.9")],
            "Cannot find argument 'momentum' of sgd_update",
        ),
        ("sgd_mom_update", vec![&w, &g], lr.to_vec(), "sgd_mom_update takes 3 arrays (weight, grad, mom), got 2"),
        ("sgd_mom_update", vec![&w, &g, &short], lr.to_vec(), "sgd_mom_update: mom has shape [2], the weight [3]"),
        ("sgd_mom_update", vec![&w, &g, &w64], lr.to_vec(), "sgd_mom_update: mom has dtype float64, expected float32"),
        ("sgd_mom_update", vec![&w, &g, &g], lr.to_vec(), "mom shares memory with grad"),
        ("mp_sgd_update", vec![&w64, &w64, &w64], lr.to_vec(), "mp_sgd_update: weight has dtype float64, supported: float16, float32"),
    ];
    for (op, arrays, params, message) in cases {
        let err = apply(op, &arrays, &params).unwrap_err().to_string();
        assert!(
            err.contains(message),
            "{op}: got '{err}', expected '{message}'"
        );
        assert_eq!(f32_values(&w), [1.0, 2.0, 3.0]);
        assert_eq!(f32_values(&g), [0.5, 0.5, 0.5]);
        assert_eq!(f32_values(&mom), [0.0, 0.0, 0.0]);
    }
}
