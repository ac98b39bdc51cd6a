//! Store semantics, tested on the safe body (the C tests cover the same through the ABI).

use std::sync::{Arc, Mutex};

use super::*;
use crate::error::Error;
use crate::ndarray::{DType, Shape};
use std::sync::atomic::{AtomicUsize, Ordering};

fn array(values: &[f32]) -> NDArray {
    let a = NDArray::new(
        Shape(vec![values.len() as i64]),
        DType::F32,
        Context::cpu(0),
    )
    .unwrap();
    a.copy_from_bytes(bytemuck::cast_slice(values), values.len())
        .unwrap();
    a
}

/// An updater that sees every key as the store's internal int key.
fn int_updater(f: impl Fn(i32, NDArray, NDArray) + Send + Sync + 'static) -> impl Updater {
    move |key: UpdateKey<'_>, recv: NDArray, local: NDArray| f(key.int(), recv, local)
}

fn values(a: &NDArray) -> Vec<f32> {
    bytemuck::cast_slice(&a.to_bytes().unwrap()).to_vec()
}

fn pulled(kv: &KVStore, keys: Keys<'_>, n: usize) -> Vec<f32> {
    let out = array(&vec![0.0; n]);
    kv.pull(keys, std::slice::from_ref(&out), true).unwrap();
    values(&out)
}

#[test]
fn push_sums_values_per_key_and_assigns_without_updater() {
    let kv = KVStore::create("local").unwrap();
    kv.init(
        Keys::Int(&[3, 9]),
        &[array(&[1.0, 1.0]), array(&[0.0, 0.0])],
    )
    .unwrap();
    let a = array(&[1.0, 2.0]);
    kv.push(
        Keys::Int(&[9, 3, 9, 3]),
        &[a.clone(), a.clone(), array(&[10.0, 10.0]), a.clone()],
    )
    .unwrap();
    assert_eq!(pulled(&kv, Keys::Int(&[3]), 2), vec![2.0, 4.0]);
    assert_eq!(pulled(&kv, Keys::Int(&[9]), 2), vec![11.0, 12.0]);
    // The store holds its own copy: changing the pushed array changes nothing.
    a.copy_from_bytes(bytemuck::cast_slice(&[7f32, 7.0]), 2)
        .unwrap();
    assert_eq!(pulled(&kv, Keys::Int(&[3]), 2), vec![2.0, 4.0]);
}

#[test]
fn updater_runs_once_per_key_in_ascending_order_and_writes_through_local() {
    let kv = KVStore::create("local").unwrap();
    kv.init(
        Keys::Int(&[1, 5, 9]),
        &[array(&[1.0]), array(&[1.0]), array(&[1.0])],
    )
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    kv.set_updater(int_updater(move |key, recv, local| {
        log.lock().unwrap().push(key);
        let r = values(&recv)[0];
        let l = values(&local)[0];
        local
            .copy_from_bytes(bytemuck::cast_slice(&[l + 2.0 * r]), 1)
            .unwrap();
    }));
    let one = array(&[1.0]);
    kv.push(
        Keys::Int(&[9, 5, 1, 5]),
        &[one.clone(), one.clone(), one.clone(), one.clone()],
    )
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![1, 5, 9]);
    assert_eq!(pulled(&kv, Keys::Int(&[5]), 1), vec![5.0]);
    assert_eq!(pulled(&kv, Keys::Int(&[9]), 1), vec![3.0]);
    kv.remove_updater();
    kv.push(Keys::Int(&[9]), &[array(&[4.0])]).unwrap();
    assert_eq!(pulled(&kv, Keys::Int(&[9]), 1), vec![4.0]);
}

#[test]
fn string_keys_reach_the_int_updater_as_their_registration_index() {
    let kv = KVStore::create("local").unwrap();
    kv.init(Keys::Str(&[b"x", b"y"]), &[array(&[0.0]), array(&[0.0])])
        .unwrap();
    kv.init(Keys::Str(&[b"z"]), &[array(&[0.0])]).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    kv.set_updater(int_updater(move |k, _, _| log.lock().unwrap().push(k)));
    kv.push(Keys::Str(&[b"z", b"x"]), &[array(&[1.0]), array(&[1.0])])
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![0, 2]);
}

#[test]
fn a_failed_call_changes_nothing() {
    let kv = KVStore::create("local").unwrap();
    kv.init(Keys::Int(&[1, 2]), &[array(&[1.0]), array(&[2.0])])
        .unwrap();
    // Key 7 in the middle is unknown: keys 1 and 2 keep their values.
    let err = kv
        .push(
            Keys::Int(&[1, 7, 2]),
            &[array(&[5.0]), array(&[5.0]), array(&[5.0])],
        )
        .unwrap_err();
    assert_eq!(err, Error::NotInited(7));
    assert_eq!(pulled(&kv, Keys::Int(&[1]), 1), vec![1.0]);
    // A shape mismatch in the last pair: nothing pushed.
    let err = kv
        .push(Keys::Int(&[1, 2]), &[array(&[5.0]), array(&[5.0, 5.0])])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("operands shape mismatch from.shape = [2] to.shape=[1]"),
        "{err}"
    );
    assert_eq!(pulled(&kv, Keys::Int(&[2]), 1), vec![2.0]);
    // Duplicate init within one call adds none of its keys; the failed push did not poison 7.
    let err = kv
        .init(Keys::Int(&[8, 8]), &[array(&[1.0]), array(&[1.0])])
        .unwrap_err();
    assert!(err.to_string().contains("duplicate init of key 8"));
    kv.init(Keys::Int(&[7, 8]), &[array(&[7.0]), array(&[8.0])])
        .unwrap();
    assert_eq!(pulled(&kv, Keys::Int(&[7]), 1), vec![7.0]);
    // Mixed key types, both directions.
    let err = kv.init(Keys::Str(&[b"a"]), &[array(&[1.0])]).unwrap_err();
    assert!(
        err.to_string()
            .contains("(1 vs. 0) : Mixed key types are not allowed"),
        "{err}"
    );
    let skv = KVStore::create("local").unwrap();
    skv.init(Keys::Str(&[b"a"]), &[array(&[1.0])]).unwrap();
    assert!(skv
        .pull(Keys::Int(&[0]), &[array(&[0.0])], true)
        .unwrap_err()
        .to_string()
        .contains("(0 vs. 1)"));
    assert_eq!(
        skv.pull(Keys::Str(&[b"b"]), &[array(&[0.0])], true)
            .unwrap_err(),
        Error::UnknownKey("b".into())
    );
}

#[test]
fn broadcast_and_pushpull() {
    let kv = KVStore::create("device").unwrap();
    let outs = [array(&[0.0]), array(&[0.0])];
    kv.broadcast(
        Keys::Str(&[b"w"]),
        &[array(&[3.0])],
        Keys::Str(&[b"w", b"w"]),
        &outs,
    )
    .unwrap();
    assert_eq!((values(&outs[0]), values(&outs[1])), (vec![3.0], vec![3.0]));
    assert!(kv
        .broadcast(
            Keys::Str(&[b"w"]),
            &[array(&[3.0])],
            Keys::Str(&[b"w"]),
            &outs[..1]
        )
        .is_err());
    // In-place pushpull: the outputs are the pushed arrays.
    let vals = [array(&[1.0]), array(&[2.0])];
    kv.pushpull(
        Keys::Str(&[b"w", b"w"]),
        &vals,
        Keys::Str(&[b"w", b"w"]),
        &vals,
    )
    .unwrap();
    assert_eq!((values(&vals[0]), values(&vals[1])), (vec![3.0], vec![3.0]));
}

#[test]
fn create_follows_the_name_rules() {
    assert_eq!(
        KVStore::create("LOCAL_Update_CPU").unwrap().type_name(),
        "local_update_cpu"
    );
    assert!(matches!(KVStore::create("nccl"), Err(Error::Nccl(_))));
    assert!(matches!(
        KVStore::create("dist_sync"),
        Err(Error::NoDist(_))
    ));
    assert!(KVStore::create("horovod").is_ok());
}

#[test]
fn dtypes_convert_on_push_and_pull() {
    let kv = KVStore::create("local").unwrap();
    kv.init(Keys::Int(&[0]), &[array(&[0.0, 0.0])]).unwrap();
    let d = NDArray::new(Shape(vec![2]), DType::F64, Context::cpu(0)).unwrap();
    d.copy_from_bytes(bytemuck::cast_slice(&[1.5f64, -2.5]), 2)
        .unwrap();
    kv.push(Keys::Int(&[0, 0]), &[d.clone(), d]).unwrap();
    let out = NDArray::new(Shape(vec![2]), DType::I32, Context::cpu(0)).unwrap();
    kv.pull(Keys::Int(&[0]), std::slice::from_ref(&out), true)
        .unwrap();
    assert_eq!(
        bytemuck::cast_slice::<u8, i32>(&out.to_bytes().unwrap()),
        &[3, -5]
    );
}

#[test]
fn concurrent_pushes_with_an_updater_lose_nothing() {
    let kv = Arc::new(KVStore::create("local").unwrap());
    kv.init(
        Keys::Int(&[0, 1, 2, 3, 4]),
        &(0..5).map(|_| array(&[0.0; 64])).collect::<Vec<_>>(),
    )
    .unwrap();
    kv.set_updater(int_updater(|_, recv, local| {
        let sum: Vec<f32> = values(&local)
            .iter()
            .zip(values(&recv))
            .map(|(l, r)| l + r)
            .collect();
        local
            .copy_from_bytes(bytemuck::cast_slice(&sum), sum.len())
            .unwrap();
    }));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let kv = kv.clone();
            std::thread::spawn(move || {
                let one = array(&[1.0; 64]);
                for _ in 0..200 {
                    kv.push(Keys::Int(&[0, t + 1]), &[one.clone(), one.clone()])
                        .unwrap();
                    pulled(&kv, Keys::Int(&[0]), 64);
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert!(pulled(&kv, Keys::Int(&[0]), 64).iter().all(|&v| v == 800.0));
    for k in 1..5 {
        assert!(pulled(&kv, Keys::Int(&[k]), 64).iter().all(|&v| v == 200.0));
    }
}

/// Thread 0 pushes ones to key 0 and thread 1 to key 1, 2000 times each; fails if they
/// have not finished within 20 s (a deadlock).
fn push_ones_2000_times_on_two_threads(kv: &Arc<KVStore>) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for key in 0..2 {
        let (kv, done) = (kv.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let one = array(&[1.0; 16]);
            for _ in 0..2000 {
                kv.push(Keys::Int(&[key]), std::slice::from_ref(&one))
                    .unwrap();
            }
            done.send(()).unwrap();
        });
    }
    for _ in 0..2 {
        done_rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the pushing threads finish");
    }
}

#[test]
fn updaters_pulling_each_others_keys_on_two_threads_do_not_deadlock() {
    let kv = Arc::new(KVStore::create("local").unwrap());
    kv.init(Keys::Int(&[0, 1]), &[array(&[0.0; 16]), array(&[0.0; 16])])
        .unwrap();
    let store = Arc::downgrade(&kv);
    kv.set_updater(int_updater(move |key, recv, local| {
        if let Some(kv) = store.upgrade() {
            let other = 1 - key;
            kv.pull(Keys::Int(&[other]), &[array(&[0.0; 16])], true)
                .unwrap();
        }
        local.assign_sum(&[&local, &recv]).unwrap();
    }));
    push_ones_2000_times_on_two_threads(&kv);
    assert_eq!(pulled(&kv, Keys::Int(&[0]), 16), vec![2000.0; 16]);
    assert_eq!(pulled(&kv, Keys::Int(&[1]), 16), vec![2000.0; 16]);
}

#[test]
fn updaters_pushing_each_others_keys_on_two_threads_do_not_deadlock() {
    let kv = Arc::new(KVStore::create("local").unwrap());
    kv.init(Keys::Int(&[0, 1]), &[array(&[0.0; 16]), array(&[0.0; 16])])
        .unwrap();
    let store = Arc::downgrade(&kv);
    std::thread_local!(static NESTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    let landed = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let counts = landed.clone();
    kv.set_updater(int_updater(move |key, recv, local| {
        let landed = &counts;
        if let (Some(kv), false) = (store.upgrade(), NESTED.with(|n| n.get())) {
            NESTED.with(|n| n.set(true));
            // Fails only when the other thread's updater is pushing this key now.
            match kv.push(Keys::Int(&[1 - key]), &[array(&[1.0; 16])]) {
                Ok(()) => landed[(1 - key) as usize].fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    assert_eq!(e, Error::WouldDeadlock((1 - key).to_string()));
                    0
                }
            };
            NESTED.with(|n| n.set(false));
        }
        local.assign_sum(&[&local, &recv]).unwrap();
    }));
    push_ones_2000_times_on_two_threads(&kv);
    // Each push adds one to its key, and one to the other key unless it failed.
    for key in 0..2 {
        let nested = landed[key].load(Ordering::Relaxed) as f32;
        assert_eq!(
            pulled(&kv, Keys::Int(&[key as i32]), 16),
            vec![2000.0 + nested; 16]
        );
    }
}

#[test]
fn one_scratch_buffer_per_store_serves_every_key() {
    let kv = KVStore::create("local").unwrap();
    let sizes = [(0, 1000), (1, 500), (2, 2000)];
    let zeros: Vec<NDArray> = sizes.iter().map(|&(_, n)| array(&vec![0.0; n])).collect();
    kv.init(Keys::Int(&[0, 1, 2]), &zeros).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    kv.set_updater(int_updater(move |_, recv: NDArray, local: NDArray| {
        local.assign_sum(&[&local, &recv]).unwrap();
        log.lock().unwrap().push(recv.data_addr().unwrap());
    }));
    let twice = |key: i32, n: usize| {
        kv.push(
            Keys::Int(&[key, key]),
            &[array(&vec![1.0; n]), array(&vec![1.0; n])],
        )
        .unwrap()
    };
    for _ in 0..2 {
        for (key, n) in sizes {
            twice(key, n);
        }
    }
    // The first push allocates, the largest key grows the buffer once, then it serves all.
    let addrs = seen.lock().unwrap().clone();
    let last = kv.scratch.lock().as_ref().unwrap().data_addr().unwrap();
    assert_eq!(addrs[0], addrs[1]);
    assert!(addrs[2..].iter().all(|&a| a == last));
    assert_eq!(kv.scratch.lock().as_ref().unwrap().capacity(), 2000 * 4);
    for (key, n) in sizes {
        assert_eq!(pulled(&kv, Keys::Int(&[key]), n), vec![4.0; n]);
    }
}

#[test]
fn a_recv_kept_by_the_updater_is_not_overwritten_by_later_pushes() {
    let kv = KVStore::create("local").unwrap();
    kv.init(Keys::Int(&[0]), &[array(&[0.0; 8])]).unwrap();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let log = kept.clone();
    kv.set_updater(int_updater(move |_, recv: NDArray, _| {
        log.lock().unwrap().push(recv)
    }));
    for v in [1.0, 2.0, 3.0] {
        kv.push(Keys::Int(&[0, 0]), &[array(&[v; 8]), array(&[v; 8])])
            .unwrap();
    }
    let sums: Vec<Vec<f32>> = kept.lock().unwrap().iter().map(values).collect();
    assert_eq!(sums, vec![vec![2.0; 8], vec![4.0; 8], vec![6.0; 8]]);
}

#[test]
fn a_push_that_cannot_get_its_sum_buffer_fails_whole() {
    use crate::ndarray::FAIL_ALLOCATIONS;
    let kv = KVStore::create("local").unwrap();
    kv.init(Keys::Int(&[0, 1]), &[array(&[1.0; 4]), array(&[1.0; 4])])
        .unwrap();
    let calls = Arc::new(Mutex::new(0));
    let count = calls.clone();
    kv.set_updater(int_updater(move |_, recv: NDArray, local: NDArray| {
        *count.lock().unwrap() += 1;
        local.assign_sum(&[&local, &recv]).unwrap();
    }));
    let two = array(&[2.0; 4]);
    let values = [two.clone(), two.clone(), two.clone(), two.clone()];
    FAIL_ALLOCATIONS.set(true);
    let err = kv.push(Keys::Int(&[0, 0, 1, 1]), &values).unwrap_err();
    FAIL_ALLOCATIONS.set(false);
    assert!(err.to_string().contains("out of memory"), "{err}");
    assert_eq!(*calls.lock().unwrap(), 0);
    assert_eq!(pulled(&kv, Keys::Int(&[0]), 4), vec![1.0; 4]);
    assert_eq!(pulled(&kv, Keys::Int(&[1]), 4), vec![1.0; 4]);
    kv.push(Keys::Int(&[0, 0, 1, 1]), &values).unwrap();
    assert_eq!(*calls.lock().unwrap(), 2);
    assert_eq!(pulled(&kv, Keys::Int(&[1]), 4), vec![5.0; 4]);
}

#[test]
fn string_keys_are_bytes_utf8_or_not() {
    let kv = KVStore::create("local").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    kv.set_updater(move |key: UpdateKey<'_>, recv: NDArray, local: NDArray| {
        if let UpdateKey::Str { name, index } = key {
            log.lock().unwrap().push((name.to_vec(), index));
        }
        local.assign_sum(&[&local, &recv]).unwrap();
    });
    kv.init(
        Keys::Str(&[b"w\xff", "é".as_bytes()]),
        &[array(&[1.0]), array(&[2.0])],
    )
    .unwrap();
    kv.push(Keys::Str(&[b"w\xff"]), &[array(&[3.0])]).unwrap();
    assert_eq!(pulled(&kv, Keys::Str(&[b"w\xff"]), 1), vec![4.0]);
    assert_eq!(pulled(&kv, Keys::Str(&["é".as_bytes()]), 1), vec![2.0]);
    assert_eq!(*seen.lock().unwrap(), vec![(b"w\xff".to_vec(), 0)]);
    // Messages show the bytes that are not UTF-8 escaped, the rest as it is.
    let err = kv.pull(Keys::Str(&[b"\xc3\xa9\xfe"]), &[array(&[0.0])], true);
    assert_eq!(err.unwrap_err(), Error::UnknownKey("é\\xfe".into()));
    let err = kv
        .init(Keys::Str(&[b"w\xff"]), &[array(&[0.0])])
        .unwrap_err();
    assert!(err.to_string().contains("key w\\xff."), "{err}");
}

/// A store of keys 0, 1 and 2 holding 4, 20 and 4 float32 ones.
fn store_of_ones() -> KVStore {
    let kv = KVStore::create("local").unwrap();
    let ones = [array(&[1.0; 4]), array(&[1.0; 20]), array(&[1.0; 4])];
    kv.init(Keys::Int(&[0, 1, 2]), &ones).unwrap();
    kv
}

/// An updater that adds `recv` to the stored value, keeps every `recv` it is given in
/// `kept`, then calls `after`.
fn updater_keeping_recv(kept: &Arc<Mutex<Vec<NDArray>>>, after: fn()) -> impl Updater {
    let kept = kept.clone();
    int_updater(move |_, recv: NDArray, local: NDArray| {
        local.assign_sum(&[&local, &recv]).unwrap();
        kept.lock().unwrap().push(recv);
        after();
    })
}

/// `n` float64 twos: a push of them to a float32 key is summed (converted) in a buffer.
fn converting_twos(n: usize) -> NDArray {
    let a = NDArray::new(Shape(vec![n as i64]), DType::F64, Context::cpu(0)).unwrap();
    a.copy_from_bytes(bytemuck::cast_slice(&vec![2.0f64; n]), n)
        .unwrap();
    a
}

#[test]
fn a_push_whose_updater_keeps_recv_reserves_every_keys_buffer_before_changing_any() {
    use crate::ndarray::FAIL_ALLOCATIONS;
    let kv = store_of_ones();
    let twos = [converting_twos(4), converting_twos(20)];
    // A push whose updater lets go of its recv leaves the store a reusable buffer.
    kv.set_updater(int_updater(|_, recv: NDArray, local: NDArray| {
        local.assign_sum(&[&local, &recv]).unwrap()
    }));
    kv.push(Keys::Int(&[1]), &twos[1..]).unwrap();
    assert_eq!(pulled(&kv, Keys::Int(&[1]), 20), vec![3.0; 20]);
    // Memory runs out with that buffer in hand. An updater keeping recv would keep it,
    // and the second key's buffer cannot be had: the push fails before any key changes.
    let kept = Arc::new(Mutex::new(Vec::new()));
    kv.set_updater(updater_keeping_recv(&kept, || {}));
    FAIL_ALLOCATIONS.set(true);
    let pushed = kv.push(Keys::Int(&[0, 1]), &twos);
    FAIL_ALLOCATIONS.set(false);
    let err = pushed.unwrap_err();
    assert!(err.to_string().contains("out of memory"), "{err}");
    assert!(kept.lock().unwrap().is_empty());
    assert_eq!(pulled(&kv, Keys::Int(&[0]), 4), vec![1.0; 4]);
    assert_eq!(pulled(&kv, Keys::Int(&[1]), 20), vec![3.0; 20]);
}

#[test]
fn memory_running_out_inside_a_push_does_not_stop_it_halfway() {
    use crate::ndarray::FAIL_ALLOCATIONS;
    // The updater keeps the first key's sum, then memory runs out: the other keys' sums
    // go into memory the push reserved before it began.
    let kv = store_of_ones();
    let kept = Arc::new(Mutex::new(Vec::new()));
    kv.set_updater(updater_keeping_recv(&kept, || FAIL_ALLOCATIONS.set(true)));
    let twos = [converting_twos(4), converting_twos(4), converting_twos(20)];
    let pushed = kv.push(Keys::Int(&[2, 0, 1]), &twos);
    FAIL_ALLOCATIONS.set(false);
    pushed.unwrap();
    let sums: Vec<Vec<f32>> = kept.lock().unwrap().iter().map(values).collect();
    assert_eq!(sums, vec![vec![2.0; 4], vec![2.0; 20], vec![2.0; 4]]);
    assert_eq!(pulled(&kv, Keys::Int(&[0]), 4), vec![3.0; 4]);
    assert_eq!(pulled(&kv, Keys::Int(&[1]), 20), vec![3.0; 20]);
    assert_eq!(pulled(&kv, Keys::Int(&[2]), 4), vec![3.0; 4]);
}

#[test]
fn updaters_of_different_keys_run_at_the_same_time() {
    let kv = Arc::new(KVStore::create("local").unwrap());
    let keys = [0, 1, 2, 3];
    let zeros: Vec<NDArray> = keys.iter().map(|_| array(&[0.0; 4])).collect();
    kv.init(Keys::Int(&keys), &zeros).unwrap();
    kv.set_updater(int_updater(|_, recv, local| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        local.assign_sum(&[&local, &recv]).unwrap();
    }));
    let start = std::time::Instant::now();
    let threads: Vec<_> = keys
        .iter()
        .map(|&key| {
            let kv = kv.clone();
            std::thread::spawn(move || {
                let one = array(&[1.0; 4]);
                for _ in 0..10 {
                    kv.push(Keys::Int(&[key]), std::slice::from_ref(&one))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // One at a time, 40 updates of 10 ms would need 400 ms.
    let elapsed = start.elapsed();
    assert!(
        elapsed < std::time::Duration::from_millis(250),
        "{elapsed:?}"
    );
    for key in keys {
        assert_eq!(pulled(&kv, Keys::Int(&[key]), 4), vec![10.0; 4]);
    }
}

#[test]
fn updaters_pushing_each_others_keys_at_the_same_moment_fail_one_push_not_hang() {
    // Thread A's updater of key 1 and thread B's updater of key 2 each push the other key
    // once both are inside: the first waits for the other key, the second would close the
    // circle and fails instead.
    let kv = Arc::new(KVStore::create("local").unwrap());
    kv.init(Keys::Int(&[1, 2]), &[array(&[0.0]), array(&[0.0])])
        .unwrap();
    let store = Arc::downgrade(&kv);
    let inside = Arc::new(std::sync::Barrier::new(2));
    let results = Arc::new(Mutex::new(Vec::new()));
    let (both, log) = (inside.clone(), results.clone());
    kv.set_updater(int_updater(move |key, recv, local| {
        if values(&recv)[0] == 1.0 {
            both.wait();
            let kv = store.upgrade().unwrap();
            let nested = kv.push(Keys::Int(&[3 - key]), &[array(&[10.0])]);
            log.lock().unwrap().push((3 - key, nested));
        }
        local.assign_sum(&[&local, &recv]).unwrap();
    }));
    let threads: Vec<_> = [1, 2]
        .into_iter()
        .map(|key| {
            let kv = kv.clone();
            std::thread::spawn(move || kv.push(Keys::Int(&[key]), &[array(&[1.0])]).unwrap())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let results = results.lock().unwrap();
    assert_eq!(results.len(), 2);
    // The failed push returns at once; the other one waited for its key.
    assert!(results[1].1.is_ok(), "{:?}", results[1]);
    let (failed_key, failed) = &results[0];
    assert_eq!(*failed, Err(Error::WouldDeadlock(failed_key.to_string())));
    assert_eq!(pulled(&kv, Keys::Int(&[*failed_key]), 1), vec![1.0]);
    assert_eq!(pulled(&kv, Keys::Int(&[3 - *failed_key]), 1), vec![11.0]);
}

fn array_in(values: &[f32], ctx: Context) -> NDArray {
    array(values).deep_copy(ctx).unwrap()
}

#[test]
fn sums_are_the_floats_mxnet_gives_for_each_store_kind() {
    // Values whose float sum depends on the order of the additions. MXNet 1.9.1 pulls 5.5
    // from `local` (CommCPU: v0 + (v1+v2+v3+v4) + (v5+v6+v7)) and 0.5 from `device`
    // (ElementwiseSum: left to right), measured with this very push.
    let vals = [1.0f32, 1e8, -1e8, 1.0, 3.0, -1e8, 1e8, 0.5];
    for (name, want) in [
        ("local", 5.5f32),
        ("local_allreduce_cpu", 5.5),
        ("device", 0.5),
    ] {
        let kv = KVStore::create(name).unwrap();
        kv.init(Keys::Int(&[0]), &[array(&[0.0; 3])]).unwrap();
        let pushed: Vec<NDArray> = vals.iter().map(|&v| array(&[v; 3])).collect();
        kv.push(Keys::Int(&[0; 8]), &pushed).unwrap();
        assert_eq!(pulled(&kv, Keys::Int(&[0]), 3), vec![want; 3], "{name}");
        // The updater's recv is the same sum.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        kv.set_updater(int_updater(move |_, recv, _| {
            log.lock().unwrap().push(values(&recv))
        }));
        kv.push(Keys::Int(&[0; 8]), &pushed).unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![vec![want; 3]], "{name}");
    }
}

/// The context of `recv` for each key of one push, in key order.
fn recv_contexts(kv: &KVStore, keys: &[i32], pushed: &[NDArray]) -> Vec<(i32, Context)> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    kv.set_updater(int_updater(move |key, recv, _| {
        log.lock().unwrap().push((key, recv.context()))
    }));
    kv.push(Keys::Int(keys), pushed).unwrap();
    let seen = seen.lock().unwrap().clone();
    seen
}

#[test]
fn the_device_stores_recv_reports_its_merge_buffers_context() {
    // What MXNet 1.9.1 reports (recv.context in the updater) for these pushes.
    let pinned = STORE_CONTEXT;
    let cpu = Context::cpu;
    for (name, devices, want) in [
        ("device", vec![2, 1], cpu(2)),
        ("device", vec![1, 2, 3], cpu(1)),
        ("device", vec![0], cpu(0)),
        ("local", vec![2, 1], pinned),
        ("local", vec![0], cpu(0)),
    ] {
        let kv = KVStore::create(name).unwrap();
        kv.init(Keys::Int(&[3]), &[array(&[0.0; 2])]).unwrap();
        let pushed: Vec<NDArray> = devices
            .iter()
            .map(|&d| array_in(&[1.0; 2], cpu(d)))
            .collect();
        let keys = vec![3; devices.len()];
        assert_eq!(
            recv_contexts(&kv, &keys, &pushed),
            vec![(3, want)],
            "{name} {devices:?}"
        );
    }
    // Buffers are balanced over the devices, largest key first: key 2 (100 elements) on
    // cpu(0), then key 1 (10) and key 3 (5) on cpu(1).
    let kv = KVStore::create("device").unwrap();
    let sizes = [10, 100, 5];
    let zeros: Vec<NDArray> = sizes.iter().map(|&n| array(&vec![0.0; n])).collect();
    kv.init(Keys::Int(&[1, 2, 3]), &zeros).unwrap();
    let mut keys = Vec::new();
    let mut pushed = Vec::new();
    for (key, n) in [1, 2, 3].into_iter().zip(sizes) {
        for d in 0..2 {
            keys.push(key);
            pushed.push(array_in(&vec![1.0; n], cpu(d)));
        }
    }
    assert_eq!(
        recv_contexts(&kv, &keys, &pushed),
        vec![(1, cpu(1)), (2, cpu(0)), (3, cpu(1))]
    );
}

/// An engine that applies nothing here: it records what travels through it, as a
/// distributed engine with servers would send it.
#[derive(Default)]
struct Recording {
    log: Mutex<Vec<String>>,
}

impl Engine for Arc<Recording> {
    fn init(&self, added: &[(i32, &Entry)]) -> Result<()> {
        for (key, entry) in added {
            let v = values(&entry.stored());
            self.log.lock().unwrap().push(format!("init {key} {v:?}"));
        }
        Ok(())
    }
    fn push<'a>(
        &self,
        key: i32,
        entry: &Entry,
        merged: Merged<'a>,
        assigns: bool,
    ) -> Result<Option<Merged<'a>>> {
        let sum = merged.into_owned_array(&entry.stored())?;
        let v = values(&sum);
        let how = if assigns { "assigned" } else { "updated" };
        self.log
            .lock()
            .unwrap()
            .push(format!("push {key} {v:?} {how}"));
        Ok(None)
    }
    fn push_all<'a>(
        &self,
        pushes: Vec<KeyPush<'a>>,
        assigns: bool,
    ) -> Result<Vec<Option<Merged<'a>>>> {
        let keys: Vec<i32> = pushes.iter().map(|p| p.key).collect();
        self.log.lock().unwrap().push(format!("push_all {keys:?}"));
        pushes
            .into_iter()
            .map(|p| self.push(p.key, p.entry, p.merged, assigns))
            .collect()
    }
    fn pull(&self, key: i32, _entry: &Entry, out: &NDArray) -> Result<()> {
        self.log.lock().unwrap().push(format!("pull {key}"));
        out.copy_from_bytes(bytemuck::cast_slice(&[42.0f32]), 1)
    }
    fn updates_locally(&self) -> bool {
        false
    }
    fn rank(&self) -> i32 {
        3
    }
    fn group_size(&self) -> i32 {
        4
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
    fn num_dead_nodes(&self, _node_id: i32, _timeout_sec: i32) -> Result<i32> {
        Ok(0)
    }
    fn send_command_to_servers(&self, _head: i32, _body: &[u8]) -> Result<()> {
        Ok(())
    }
    fn run_server(
        &self,
        _controller: &mut dyn FnMut(i32, &[u8]),
        _updater: &dyn Fn() -> Option<Arc<dyn Updater>>,
    ) -> Result<()> {
        Ok(())
    }
    fn role(&self) -> Role {
        Role::Worker
    }
    fn close(&self, barrier_before_exit: bool) -> Result<()> {
        let line = format!("close barrier={barrier_before_exit}");
        self.log.lock().unwrap().push(line);
        Ok(())
    }
}

#[test]
fn an_engine_carries_inits_merged_pushes_pulls_and_the_close() {
    let engine = Arc::new(Recording::default());
    let kv = KVStore::with_engine("dist_sync".into(), Box::new(engine.clone()));
    assert_eq!((kv.engine().rank(), kv.engine().group_size()), (3, 4));
    kv.init(Keys::Int(&[5]), &[array(&[1.0])]).unwrap();
    let ran = Arc::new(Mutex::new(0));
    let count = ran.clone();
    kv.set_updater(int_updater(move |_, _, _| *count.lock().unwrap() += 1));
    kv.push(Keys::Int(&[5, 5]), &[array(&[2.0]), array(&[3.0])])
        .unwrap();
    assert_eq!(pulled(&kv, Keys::Int(&[5]), 1), vec![42.0]);
    kv.set_barrier_before_exit(false);
    drop(kv);
    // The servers apply pushes: the updater never ran here (and the engine was told
    // that the store has one).
    assert_eq!(*ran.lock().unwrap(), 0);
    assert_eq!(
        *engine.log.lock().unwrap(),
        vec![
            "init 5 [1.0]",
            "push_all [5]",
            "push 5 [5.0] updated",
            "pull 5",
            "close barrier=false"
        ]
    );
}

#[test]
fn a_multi_key_push_reaches_the_engine_as_one_call_in_key_order() {
    let engine = Arc::new(Recording::default());
    let kv = KVStore::with_engine("dist_sync".into(), Box::new(engine.clone()));
    kv.init(
        Keys::Int(&[2, 9, 4]),
        &[array(&[0.0]), array(&[0.0]), array(&[0.0])],
    )
    .unwrap();
    kv.push(
        Keys::Int(&[9, 2, 9, 4]),
        &[array(&[1.0]), array(&[2.0]), array(&[3.0]), array(&[4.0])],
    )
    .unwrap();
    kv.set_barrier_before_exit(false);
    drop(kv);
    assert_eq!(
        engine.log.lock().unwrap()[3..],
        [
            "push_all [2, 4, 9]",
            "push 2 [2.0] assigned",
            "push 4 [4.0] assigned",
            "push 9 [4.0] assigned",
            "close barrier=false"
        ]
    );
}

#[test]
fn a_push_of_several_keys_gives_each_key_its_own_values_in_any_order() {
    let kv = KVStore::create("local").unwrap();
    let zeros = [array(&[0.0]), array(&[0.0]), array(&[0.0])];
    kv.init(Keys::Int(&[1, 2, 3]), &zeros).unwrap();
    let each = |kv: &KVStore| -> Vec<f32> {
        [1, 2, 3]
            .iter()
            .flat_map(|&k| pulled(kv, Keys::Int(&[k]), 1))
            .collect()
    };
    // Keys in ascending order, once each; then out of order, one of them twice.
    let ascending = [array(&[1.0]), array(&[2.0]), array(&[3.0])];
    kv.push(Keys::Int(&[1, 2, 3]), &ascending).unwrap();
    assert_eq!(each(&kv), vec![1.0, 2.0, 3.0]);
    let mixed = [
        array(&[30.0]),
        array(&[20.0]),
        array(&[5.0]),
        array(&[10.0]),
    ];
    kv.push(Keys::Int(&[3, 2, 2, 1]), &mixed).unwrap();
    assert_eq!(each(&kv), vec![10.0, 25.0, 30.0]);
}

#[test]
fn a_pull_of_many_keys_fills_each_output_with_its_keys_value() {
    // Sizes around the prefetch's limit, an empty key, and outputs that are views at an
    // offset into one larger array, so the hints fall on shared and unaligned memory.
    let sizes = [0usize, 1, 3, 1000, 16 << 10, 17 << 10, 5, 2];
    let kv = KVStore::create("local").unwrap();
    let keys: Vec<i32> = (0..sizes.len() as i32).collect();
    let inits: Vec<NDArray> = sizes
        .iter()
        .enumerate()
        .map(|(k, &n)| array(&(0..n).map(|i| (k * 100_000 + i) as f32).collect::<Vec<_>>()))
        .collect();
    kv.init(Keys::Int(&keys), &inits).unwrap();
    let total: usize = sizes.iter().sum::<usize>() + sizes.len();
    let block = array(&vec![-1.0; total]);
    let mut at = 1;
    let outs: Vec<NDArray> = sizes
        .iter()
        .map(|&n| {
            let view = block.slice(at, at + n).unwrap();
            at += n + 1;
            view
        })
        .collect();
    // Each key twice: the second pull of a key writes the same value again.
    let twice: Vec<i32> = keys.iter().chain(&keys).copied().collect();
    let again: Vec<NDArray> = outs.iter().chain(&outs).cloned().collect();
    kv.pull(Keys::Int(&twice), &again, false).unwrap();
    for (k, out) in outs.iter().enumerate() {
        assert_eq!(floats(out), floats(&inits[k]), "key {k}");
    }
    // The gaps between the views are untouched.
    let all = floats(&block);
    let mut at = 0;
    for &n in &sizes {
        assert_eq!(all[at], -1.0, "the gap at {at}");
        at += n + 1;
    }
}

/// An array's float32 values (of any length: an empty one's bytes are not aligned).
fn floats(a: &NDArray) -> Vec<f32> {
    a.to_bytes()
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
