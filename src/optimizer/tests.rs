//! The update operators against MXNet 1.9.1: `c-tests/fixtures/optimizer/` holds arrays
//! before and after one update by the real MXNet (see `make_optimizer_fixtures.py` there),
//! for every operator and dtype, and with row_sparse gradients, weights and states
//! (`make_sparse_optimizer_fixtures.py`: values compared as dense arrays, storage types
//! kept). Rule of comparison: every element of every output array
//! (weight and states) is bitwise MXNet's — float32, float64 and float16 alike (the
//! arithmetic is MXNet's, operation by operation); a difference is reported in units in
//! the last place.

use super::*;
use crate::ndarray::io;
use crate::ndarray::{DType, NDArray, Storage};

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
    let bytes = a
        .copy_as(Storage::Dense, a.dtype(), a.context())
        .unwrap()
        .to_bytes()
        .unwrap();
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

fn cases(list: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{list}")).unwrap();
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

/// The names of a fixture file, all UTF-8.
fn utf8_names(names: Vec<Vec<u8>>) -> Vec<String> {
    names
        .into_iter()
        .map(|n| String::from_utf8(n).unwrap())
        .collect()
}

/// The names of a rule's arrays in a fixture: `<i>:<name>` for weight `i` of an aggregated
/// operator.
fn names_in_file(rule: &Rule) -> Vec<String> {
    match rule {
        Rule::Multi { rules, .. } => (0..rules.len())
            .flat_map(|i| rule.array_names().iter().map(move |n| format!("{i}:{n}")))
            .collect(),
        _ => rule.array_names().iter().map(|n| n.to_string()).collect(),
    }
}

/// Runs one case; returns the largest distance in ulps over all output elements.
fn run_case(case: &Case) -> u64 {
    let (arrays, names) = io::load_file(format!("{FIXTURES}/{}.params", case.name)).unwrap();
    let names = utf8_names(names);
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
    let expected = get("out:");
    let array_names = names_in_file(&rule);
    // An input missing from the file is a new row_sparse state (storing no row).
    let ordered: Vec<NDArray> = array_names
        .iter()
        .map(|n| match inputs.iter().find(|(name, _)| name == n) {
            Some((_, a)) => a.clone(),
            None => {
                let like = by_name(&expected, n);
                NDArray::new_sparse(
                    Storage::RowSparse,
                    like.shape().clone(),
                    like.dtype(),
                    like.context(),
                    &[(DType::I64, 0)],
                )
                .unwrap()
            }
        })
        .collect();
    rule.apply(&ordered.iter().collect::<Vec<_>>()).unwrap();
    let mut worst = 0;
    for (name, got) in array_names.iter().zip(&ordered) {
        let want = by_name(&expected, name);
        assert_eq!(got.storage(), want.storage(), "{}: {name}", case.name);
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
    let cases = cases("cases.txt");
    assert!(cases.len() > 90, "only {} fixture cases", cases.len());
    assert_exact(&cases);
}

/// The steps AI::MXNet composes in Perl (`mxkv_nag_update`), as MXNet's NDArray
/// operations compute them.
#[test]
fn perl_composed_steps_give_mxnets_results() {
    let cases = cases("perl_cases.txt");
    assert_eq!(
        cases.len(),
        6,
        "float32, float64 and float16, with and without clipping"
    );
    assert_exact(&cases);
}

fn assert_exact(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let worst = run_case(case);
        if worst > 0 {
            failures.push(format!("{} ({worst} ulp)", case.name));
        }
    }
    assert!(failures.is_empty(), "differ from MXNet: {failures:#?}");
}

/// The aggregated SGD operators: three weights of different shapes in one call.
#[test]
fn aggregated_operators_give_mxnets_results() {
    let cases = cases("multi-cases.txt");
    assert_eq!(
        cases.len(),
        20,
        "four operators, their dtypes, with and without clipping"
    );
    assert_exact(&cases);
}

/// Row_sparse gradients, weights and states: lazy, standard and dense-fallback updates.
#[test]
fn row_sparse_gradients_give_mxnets_lazy_standard_and_fallback_results() {
    let cases = cases("sparse-cases.txt");
    assert_eq!(
        cases.len(),
        75,
        "every operator, dtype and storage combination"
    );
    assert_exact(&cases);
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

/// The store optimizers against MXNet 1.9.1's local KVStore with `set_optimizer`: three
/// updates of one key (`make_store_fixtures.py`). Rule: the weight and every state array
/// bitwise MXNet's, except LAMB: MXNet's store runs its aggregated `multi_lamb_update`
/// (norms summed blockwise in float32; mxkv runs the two LAMB phases with float64 norms):
/// the weight within 4 ulp of its dtype, a float16 weight's float32 master copy within
/// 512 ulp (3e-5 relative) after three steps.
#[test]
fn store_optimizers_give_mxnets_results() {
    let text = std::fs::read_to_string(format!("{FIXTURES}/store_cases.txt")).unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for line in text.lines() {
        count += 1;
        let mut words = line.split_whitespace();
        let case = words.next().unwrap();
        let name = words.next().unwrap();
        let args: Vec<(&str, &str)> = words.map(|w| w.split_once('=').unwrap()).collect();
        let opt = Optimizer::create(name, &args).unwrap();
        let (arrays, names) = io::load_file(format!("{FIXTURES}/{case}.params")).unwrap();
        let names = utf8_names(names);
        let get = |n: &str| arrays[names.iter().position(|x| x == n).unwrap()].clone();
        let weight = get("init");
        for step in 0..3 {
            opt.update(3, &get(&format!("grad{step}")), &weight)
                .unwrap();
        }
        let (states, state_names) = opt.states().unwrap();
        let mut compared = vec![(weight, get("final"), "weight".to_string())];
        for (i, (s, n)) in states
            .iter()
            .zip(&state_names)
            .filter(|(_, n)| n.starts_with("3:") && !n.ends_with(":count"))
            .enumerate()
        {
            compared.push((s.clone(), get(&format!("state:{i}")), n.clone()));
        }
        assert_eq!(
            names.iter().filter(|n| n.starts_with("state:")).count(),
            compared.len() - 1,
            "{case}: state arrays {state_names:?}"
        );
        for (got, want, what) in compared {
            let allowed = match (name, what.as_str()) {
                ("lamb", "3:weight32") => 512,
                ("lamb", _) => 4,
                _ => 0,
            };
            let worst = ordinals(&got)
                .into_iter()
                .zip(ordinals(&want))
                .map(|(g, w)| g.abs_diff(w))
                .max()
                .unwrap();
            if worst > allowed {
                failures.push(format!("{case} {what}: {worst} ulp"));
            }
        }
        assert_eq!(opt.num_update(), 3);
    }
    assert_eq!(count, 27);
    assert!(failures.is_empty(), "differ from MXNet: {failures:#?}");
}

#[test]
fn store_optimizer_bad_names_and_arguments_are_errors() {
    let err = |name: &str, args: &[(&str, &str)]| {
        Optimizer::create(name, args).err().unwrap().to_string()
    };
    assert!(err("adamw", &[]).starts_with("Cannot find optimizer adamw (known: sgd, nag,"));
    assert!(err("sgd", &[("beta1", "0.9")]).starts_with("Cannot find argument 'beta1' of sgd"));
    assert_eq!(
        err("Adam", &[("learning_rate", "fast")]),
        "Invalid Parameter format for learning_rate expect double but value='fast', in operator adam"
    );
    let opt = Optimizer::create("SGD", &[("momentum", "0.9"), ("clip_gradient", "None")]).unwrap();
    assert_eq!(opt.name(), "sgd");
    let ints = NDArray::new(
        crate::ndarray::Shape(vec![2]),
        DType::I32,
        crate::ndarray::Context::cpu(0),
    )
    .unwrap();
    assert!(opt
        .update(0, &ints, &ints)
        .unwrap_err()
        .to_string()
        .contains("key 0 has dtype int32"));
    assert_eq!(opt.num_update(), 0);
}

/// States saved after two steps and loaded into a fresh optimizer continue exactly as the
/// original does; loading bad states fails and keeps the states there were.
#[test]
fn store_optimizer_states_save_and_load() {
    let w0 = [0.5f32, -1.0, 2.0];
    let g = [0.1f32, 0.2, -0.3];
    let args = [("learning_rate", "0.1"), ("wd", "0.01")];
    let first = Optimizer::create("adam", &args).unwrap();
    let (w, grad) = (f32_array(&w0), f32_array(&g));
    first.update(5, &grad, &w).unwrap();
    first.update(5, &grad, &w).unwrap();
    let (arrays, names) = first.states().unwrap();
    assert_eq!(names, ["5:mean", "5:var", "5:count", "num_update"]);
    let bytes = io::save(&arrays, &names).unwrap();

    let second = Optimizer::create("adam", &args).unwrap();
    let (loaded, loaded_names) = io::load(&bytes).unwrap();
    second.set_states(&loaded, &loaded_names).unwrap();
    assert_eq!(second.num_update(), 2);
    let w2 = f32_array(&f32_values(&w));
    first.update(5, &grad, &w).unwrap();
    second.update(5, &grad, &w2).unwrap();
    assert_eq!(f32_values(&w), f32_values(&w2));

    let bad = second
        .set_states(&loaded[..1], &["5:momentum".to_string()])
        .unwrap_err()
        .to_string();
    assert_eq!(
        bad,
        "invalid .params data: optimizer state '5:momentum': adam keeps no state of that name"
    );
    assert_eq!(second.num_update(), 3);
}

#[test]
fn a_key_the_store_optimizer_cannot_update_fails_the_push_whole() {
    use crate::kvstore::{KVStore, Keys};
    use crate::ndarray::Context;
    let kv = KVStore::create("local").unwrap();
    let weight = f32_array(&[1.0, 2.0]);
    let counts = NDArray::from_slice(&[2], &[5i32, 6], Context::cpu(0)).unwrap();
    kv.init(Keys::Int(&[1, 2]), &[weight, counts.clone()])
        .unwrap();
    let sgd = Optimizer::create("sgd", &[("learning_rate", "0.5")]).unwrap();
    kv.set_updater(StoreOptimizer(std::sync::Arc::new(sgd)));
    let grad = f32_array(&[2.0, 2.0]);
    // Key 2 holds int32, which no optimizer updates: the push fails before key 1 changes.
    let err = kv
        .push(Keys::Int(&[1, 2]), &[grad.clone(), counts])
        .unwrap_err()
        .to_string();
    assert!(err.contains("key 2 has dtype int32"), "{err}");
    let out = f32_array(&[0.0, 0.0]);
    kv.pull(Keys::Int(&[1]), &[out.clone()], true).unwrap();
    assert_eq!(f32_values(&out), [1.0, 2.0]);
    kv.push(Keys::Int(&[1]), &[grad]).unwrap();
    kv.pull(Keys::Int(&[1]), &[out.clone()], true).unwrap();
    assert_eq!(f32_values(&out), [0.0, 1.0]);
}

/// A row_sparse float32 array of `rows` rows of `cols` storing the rows `ids`.
fn row_sparse(rows: usize, cols: usize, ids: &[i64], values: &[f32]) -> NDArray {
    use crate::ndarray::Context;
    let a = NDArray::new_sparse(
        Storage::RowSparse,
        crate::ndarray::Shape(vec![rows as i64, cols as i64]),
        DType::F32,
        Context::cpu(0),
        &[(DType::I64, ids.len() as i64)],
    )
    .unwrap();
    let data = NDArray::from_slice(&[ids.len(), cols], values, Context::cpu(0)).unwrap();
    let id_array = NDArray::from_slice(&[ids.len()], ids, Context::cpu(0)).unwrap();
    a.set_blob(None, &data).unwrap();
    a.set_blob(Some(0), &id_array).unwrap();
    a
}

fn dense_values(a: &NDArray) -> Vec<f32> {
    f32_values(&a.copy_as(Storage::Dense, DType::F32, a.context()).unwrap())
}

#[test]
fn sparse_updates_refuse_what_mxnet_refuses_and_change_nothing() {
    let grad = row_sparse(3, 2, &[1], &[1.0, 1.0]);
    // A row_sparse weight must store every row for the lazy and standard updates.
    let weight = row_sparse(3, 2, &[0, 2], &[1.0, 2.0, 3.0, 4.0]);
    let err = apply("sgd_update", &[&weight, &grad], &[("lr", "0.1")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "sgd_update: a row_sparse weight must store every row: it stores 2 of its 3 rows"
    );
    assert_eq!(dense_values(&weight), [1.0, 2.0, 0.0, 0.0, 3.0, 4.0]);
    // MXNet's sparse AdaGrad has no weight decay.
    let weight = NDArray::from_slice(&[3, 2], &[1.0f32; 6], grad.context()).unwrap();
    let history = weight.like().unwrap();
    let err = apply(
        "mxkv_adagrad_update",
        &[&weight, &grad, &history],
        &[("lr", "0.1"), ("wd", "0.5")],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("does not support wd (wd=0.5)"), "{err}");
    assert_eq!(f32_values(&weight), [1.0; 6]);
    // A gradient of another shape.
    let small = row_sparse(2, 2, &[1], &[1.0, 1.0]);
    let err = apply("sgd_update", &[&weight, &small], &[("lr", "0.1")])
        .unwrap_err()
        .to_string();
    assert_eq!(err, "sgd_update: grad has shape [2,2], the weight [3,2]");
    assert_eq!(f32_values(&weight), [1.0; 6]);
}

/// A store's native SGD given row_sparse pushes: with `lazy_update` (the default) the rows
/// not pushed keep their values; without it weight decay reaches them too.
#[test]
fn store_optimizer_updates_only_pushed_rows_when_lazy() {
    use crate::kvstore::{KVStore, Keys};
    use crate::ndarray::Context;
    for (lazy, untouched) in [("true", 2.0f32), ("false", 2.0 * 0.95)] {
        let kv = KVStore::create("local").unwrap();
        let weight = NDArray::from_slice(&[3, 2], &[2.0f32; 6], Context::cpu(0)).unwrap();
        kv.init(Keys::Int(&[0]), &[weight]).unwrap();
        let args = [
            ("learning_rate", "0.5"),
            ("momentum", "0.9"),
            ("wd", "0.1"),
            ("lazy_update", lazy),
        ];
        let sgd = Optimizer::create("sgd", &args).unwrap();
        kv.set_updater(StoreOptimizer(std::sync::Arc::new(sgd)));
        kv.push(Keys::Int(&[0]), &[row_sparse(3, 2, &[1], &[1.0, -1.0])])
            .unwrap();
        let out = NDArray::from_slice(&[3, 2], &[0.0f32; 6], Context::cpu(0)).unwrap();
        kv.pull(Keys::Int(&[0]), &[out.clone()], true).unwrap();
        // Row 1: mom = -lr*wd*w - lr*g; w += mom.
        let (down, up) = (2.0 - 0.1 - 0.5, 2.0 - 0.1 + 0.5);
        assert_eq!(
            f32_values(&out),
            [untouched, untouched, down, up, untouched, untouched],
            "lazy_update={lazy}"
        );
    }
}

#[test]
fn parameters_round_to_float32_as_their_python_text_does() {
    let slow = |v: f64| -> f32 { format!("{v}").parse().unwrap() };
    let mut values = vec![
        0.0,
        -0.0,
        0.1,
        0.01,
        1e-3,
        0.9,
        0.999,
        1e-8,
        1.0 / 3.0,
        3e38,
        1e-45,
    ];
    // Midpoints between neighbouring float32s and the float64s next to them: where rounding
    // the float64 and rounding its decimal text can differ.
    for f in [0.1f32, 1.5, 3.0e-39, 7.0e20, 0.999] {
        let midpoint = (f64::from(f) + f64::from(f.next_up())) / 2.0;
        values.extend([midpoint, midpoint.next_up(), midpoint.next_down()]);
        values.extend([
            midpoint.next_up().next_up(),
            midpoint.next_down().next_down(),
        ]);
    }
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = f64::from_bits(x);
        if v.is_finite() {
            values.push(v);
        }
        // and one of float32's range: exponents 2^-40 to 2^40
        let exponent = 1023 - 40 + (x >> 56) % 81;
        values.push(f64::from_bits(exponent << 52 | x & ((1 << 52) - 1)));
    }
    for v in values {
        assert_eq!(
            step::param(v).to_bits(),
            slow(v).to_bits(),
            "{v:e} ({:#x})",
            v.to_bits()
        );
    }
}
