//! Memory running out inside a push through the store's native optimizer, at each of the
//! push's array allocations in turn: the push fails whole (no weight, state, update count
//! or Nadam schedule moves; no new key's state is saved), and the same push then succeeds
//! with exactly the results of a store where it never failed.

use std::sync::Arc;

use super::{Optimizer, StoreOptimizer};
use crate::error::Error;
use crate::kvstore::{KVStore, Keys};
use crate::ndarray::{Context, DType, NDArray, Shape, Storage, ALLOCATIONS_LEFT};

const KEYS: [i32; 3] = [0, 1, 2];
const SIZES: [usize; 3] = [4, 20, 3];

fn filled(n: usize, seed: f32, dtype: DType) -> NDArray {
    let values: Vec<f32> = (0..n).map(|i| seed + 0.25 * i as f32).collect();
    let a = NDArray::new(Shape(vec![n as i64]), DType::F32, Context::cpu(0)).unwrap();
    a.copy_from_bytes(bytemuck::cast_slice(&values), n).unwrap();
    a.copy_as(Storage::Dense, dtype, Context::cpu(0)).unwrap()
}

/// A store of three keys with the optimizer installed, key 1 updated once (so that the
/// push below finds one key with a state and two without).
fn store(name: &str, args: &[(&str, &str)], dtype: DType) -> (KVStore, Arc<Optimizer>) {
    let kv = KVStore::create("local").unwrap();
    let weights: Vec<NDArray> = SIZES.iter().map(|&n| filled(n, 0.5, dtype)).collect();
    kv.init(Keys::Int(&KEYS), &weights).unwrap();
    let opt = Arc::new(Optimizer::create(name, args).unwrap());
    kv.set_updater(StoreOptimizer(opt.clone()));
    kv.push(Keys::Int(&[1]), &[filled(SIZES[1], -0.125, dtype)])
        .unwrap();
    (kv, opt)
}

/// Everything a push may change: the weights' bytes, and the saved states.
fn snapshot(
    kv: &KVStore,
    opt: &Optimizer,
    dtype: DType,
) -> (Vec<Vec<u8>>, Vec<String>, Vec<Vec<u8>>) {
    let weights = KEYS
        .iter()
        .zip(SIZES)
        .map(|(&k, n)| {
            let out = filled(n, 0.0, dtype);
            kv.pull(Keys::Int(&[k]), std::slice::from_ref(&out), true)
                .unwrap();
            out.to_bytes().unwrap()
        })
        .collect();
    let (arrays, names) = opt.states().unwrap();
    let states = arrays.iter().map(|a| a.to_bytes().unwrap()).collect();
    (weights, names, states)
}

/// The push under test: keys out of order, key 0 from two devices.
fn push(kv: &KVStore, dtype: DType) -> crate::error::Result<()> {
    let grads: Vec<NDArray> = [(2, 0.75), (0, -0.5), (1, 0.375), (0, 0.25)]
        .iter()
        .map(|&(k, seed)| filled(SIZES[k as usize], seed, dtype))
        .collect();
    ALLOCATIONS_LEFT.set(LIMIT.get());
    let pushed = kv.push(Keys::Int(&[2, 0, 1, 0]), &grads);
    ALLOCATIONS_LEFT.set(None);
    pushed
}

thread_local! {
    /// The allocations the next [`push`] may make.
    static LIMIT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

fn fails_whole_at_every_allocation(name: &str, args: &[(&str, &str)], dtype: DType) {
    let (reference, reference_opt) = store(name, args, dtype);
    push(&reference, dtype).unwrap();
    push(&reference, dtype).unwrap();
    let expected = snapshot(&reference, &reference_opt, dtype);
    let mut failures = 0;
    for n in 0.. {
        assert!(n < 1000, "{name}: the push never succeeded");
        let (kv, opt) = store(name, args, dtype);
        let before = snapshot(&kv, &opt, dtype);
        let num_update = opt.num_update();
        LIMIT.set(Some(n));
        let pushed = push(&kv, dtype);
        LIMIT.set(None);
        match pushed {
            Ok(()) => {
                assert!(failures > 0, "{name}: no allocation was tried");
                push(&kv, dtype).unwrap();
                assert_eq!(snapshot(&kv, &opt, dtype), expected, "{name}");
                return;
            }
            Err(e) => {
                assert!(matches!(e, Error::OutOfMemory(_)), "{name}, {n}: {e}");
                assert_eq!(snapshot(&kv, &opt, dtype), before, "{name}, allocation {n}");
                assert_eq!(opt.num_update(), num_update, "{name}, allocation {n}");
                failures += 1;
                // Memory is back: the same push twice gives what it gives where it never failed,
                // and what the failed push reserved is used or dropped.
                push(&kv, dtype).unwrap();
                push(&kv, dtype).unwrap();
                assert_eq!(
                    snapshot(&kv, &opt, dtype),
                    expected,
                    "{name}, allocation {n}"
                );
                assert_eq!(opt.reserved.held(), 0, "{name}, allocation {n}");
            }
        }
    }
}

#[test]
fn adam_pushes_fail_whole_when_memory_runs_out() {
    fails_whole_at_every_allocation(
        "adam",
        &[("learning_rate", "0.1"), ("wd", "0.01")],
        DType::F32,
    );
}

#[test]
fn multi_precision_pushes_fail_whole_when_memory_runs_out() {
    let mp = [("learning_rate", "0.1"), ("multi_precision", "True")];
    fails_whole_at_every_allocation("adam", &mp, DType::F16);
    fails_whole_at_every_allocation("nadam", &mp, DType::F16);
    fails_whole_at_every_allocation("sgd", &[("momentum", "0.9"), mp[0], mp[1]], DType::F16);
}

#[test]
fn lamb_pushes_fail_whole_when_memory_runs_out() {
    fails_whole_at_every_allocation("lamb", &[("learning_rate", "0.1")], DType::F32);
    fails_whole_at_every_allocation("lamb", &[("multi_precision", "True")], DType::F16);
}

#[test]
fn a_first_state_reserved_by_two_threads_is_made_once() {
    // Both threads' checks reserve a first state for key 0; the first update keeps its own,
    // the other finds the state there and drops its reservation. Both updates count.
    let args = [("learning_rate", "0.1")];
    let (opt, sequential) = (
        Optimizer::create("adam", &args).unwrap(),
        Optimizer::create("adam", &args).unwrap(),
    );
    let (weight, expected) = (filled(4, 0.5, DType::F32), filled(4, 0.5, DType::F32));
    let grad = filled(4, -0.25, DType::F32);
    opt.check(0, &weight).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            opt.check(0, &weight).unwrap();
            opt.update(0, &grad, &weight).unwrap();
        })
        .join()
        .unwrap()
    });
    opt.update(0, &grad, &weight).unwrap();
    sequential.update(0, &grad, &expected).unwrap();
    sequential.update(0, &grad, &expected).unwrap();
    assert_eq!(weight.to_bytes().unwrap(), expected.to_bytes().unwrap());
    let (states, names) = opt.states().unwrap();
    let (want, want_names) = sequential.states().unwrap();
    assert_eq!(names, want_names);
    let bytes =
        |v: &[NDArray]| -> Vec<Vec<u8>> { v.iter().map(|a| a.to_bytes().unwrap()).collect() };
    assert_eq!(bytes(&states), bytes(&want));
    assert_eq!(opt.num_update(), 2);
    assert_eq!(opt.reserved.held(), 0);
}
