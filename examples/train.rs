//! train.rs — data-parallel training through an mxkv `local` store, from Rust.
//!
//! The Rust twin of `examples/train.c`: N simulated devices cpu(0) … cpu(N-1) each hold a
//! replica of a softmax-regression model (weights = key 0, bias = key 1). Every step each
//! device computes the gradient of its shard of the batch into its own gradient array; one
//! push sums the N gradients of both keys and runs the updater (SGD with momentum and
//! weight decay, a Rust `Updater`) once per key; one pull gives every replica the new
//! parameters. The data set is synthetic and deterministic (the C demo's generator).
//!
//! Usage:  cargo run --release --example train [devices [epochs]]   (defaults: 4, 10)
//! Exit status: 0 when the final test accuracy reaches ACCURACY_TARGET, 1 otherwise.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use mxkv::kvstore::{KVStore, Keys, UpdateKey, Updater};
use mxkv::ndarray::{Context, NDArray};

const NUM_CLASSES: usize = 8;
const NUM_FEATURES: usize = 32;
const NUM_SAMPLES: usize = 20000;
const NUM_TEST: usize = 4000;
const NUM_TRAIN: usize = NUM_SAMPLES - NUM_TEST;
const BATCH_SIZE: usize = 256;
const KEYS: [i32; 2] = [0, 1];
const SHAPES: [&[usize]; 2] = [&[NUM_CLASSES, NUM_FEATURES], &[NUM_CLASSES]];
const CLUSTER_SPREAD: f64 = 1.0;
const NOISE: f64 = 1.7;
const LEARNING_RATE: f32 = 0.002;
const MOMENTUM: f32 = 0.9;
const WEIGHT_DECAY: f32 = 1e-4;
const ACCURACY_TARGET: f64 = 0.9;
const SEED: u64 = 20240917;

/// splitmix64 with Box–Muller, as in train.c.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1]: never 0, so the logarithm is finite.
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) * (1.0 / 9007199254740992.0)
    }
    fn gauss(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// Gaussian clusters, one per class; the first NUM_TRAIN rows are the train split.
struct Dataset {
    x: Vec<f32>,
    y: Vec<usize>,
}

fn make_dataset(rng: &mut Rng) -> Dataset {
    let centre: Vec<f64> = (0..NUM_CLASSES * NUM_FEATURES)
        .map(|_| CLUSTER_SPREAD * rng.gauss())
        .collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..NUM_SAMPLES {
        let label = rng.below(NUM_CLASSES);
        y.push(label);
        for f in 0..NUM_FEATURES {
            x.push((centre[label * NUM_FEATURES + f] + NOISE * rng.gauss()) as f32);
        }
    }
    Dataset { x, y }
}

/// Softmax probabilities of one sample, and the predicted class.
fn forward(w: &[f32], b: &[f32], x: &[f32]) -> ([f32; NUM_CLASSES], usize) {
    let mut logits = [0f32; NUM_CLASSES];
    for (c, z) in logits.iter_mut().enumerate() {
        *z = b[c]
            + (0..NUM_FEATURES)
                .map(|f| w[c * NUM_FEATURES + f] * x[f])
                .sum::<f32>();
    }
    let best = (0..NUM_CLASSES).fold(0, |m, c| if logits[c] > logits[m] { c } else { m });
    let exps = logits.map(|z| ((z - logits[best]) as f64).exp());
    let sum: f64 = exps.iter().sum();
    (exps.map(|e| (e / sum) as f32), best)
}

/// Gradient of the summed loss over one shard, with the shard's loss and correct count.
fn shard_gradient(
    w: &[f32],
    b: &[f32],
    data: &Dataset,
    rows: &[usize],
) -> (Vec<f32>, Vec<f32>, f64, usize) {
    let (mut gw, mut gb) = (vec![0f32; w.len()], vec![0f32; b.len()]);
    let (mut loss, mut correct) = (0.0, 0);
    for &r in rows {
        let x = &data.x[r * NUM_FEATURES..(r + 1) * NUM_FEATURES];
        let (probs, predicted) = forward(w, b, x);
        loss -= (probs[data.y[r]] as f64).max(f64::MIN_POSITIVE).ln();
        correct += (predicted == data.y[r]) as usize;
        for c in 0..NUM_CLASSES {
            let delta = probs[c] - (c == data.y[r]) as u8 as f32;
            gb[c] += delta;
            for f in 0..NUM_FEATURES {
                gw[c * NUM_FEATURES + f] += delta * x[f];
            }
        }
    }
    (gw, gb, loss, correct)
}

fn accuracy(w: &[f32], b: &[f32], data: &Dataset) -> f64 {
    let correct = (NUM_TRAIN..NUM_SAMPLES)
        .filter(|&s| {
            forward(w, b, &data.x[s * NUM_FEATURES..(s + 1) * NUM_FEATURES]).1 == data.y[s]
        })
        .count();
    correct as f64 / NUM_TEST as f64
}

/// MXNet's SGD with momentum: v = momentum·v − lr·(rescale·grad + wd·w); w += v. Weight
/// decay applies to the weights, not to the bias.
struct Sgd {
    velocity: [Mutex<Vec<f32>>; 2],
    /// 1/batch as f32 bits, set before each push.
    rescale: AtomicU32,
    calls: AtomicUsize,
}

/// The store's handle on the shared optimizer (the demo reads its call count afterwards).
struct SharedSgd(std::sync::Arc<Sgd>);

impl Updater for SharedSgd {
    fn update(&self, key: UpdateKey<'_>, recv: NDArray, local: NDArray) -> mxkv::Result<()> {
        let sgd = &self.0;
        let k = key.int() as usize;
        let rescale = f32::from_bits(sgd.rescale.load(Ordering::Relaxed));
        let wd = if k == 0 { WEIGHT_DECAY } else { 0.0 };
        let grad = recv.to_vec::<f32>()?;
        let mut weight = local.to_vec::<f32>()?;
        let mut velocity = sgd.velocity[k].lock().unwrap();
        for ((w, v), g) in weight.iter_mut().zip(velocity.iter_mut()).zip(grad) {
            *v = MOMENTUM * *v - LEARNING_RATE * (rescale * g + wd * *w);
            *w += *v;
        }
        local.copy_from_slice(&weight)?;
        sgd.calls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn arg(args: &[String], i: usize, default: usize, range: std::ops::RangeInclusive<usize>) -> usize {
    match args.get(i) {
        None => default,
        Some(text) => match text.parse() {
            Ok(v) if range.contains(&v) => v,
            _ => {
                eprintln!("train: argument {i} must be an integer in {range:?}, got '{text}'");
                eprintln!("usage: train [devices [epochs]]");
                std::process::exit(2);
            }
        },
    }
}

fn main() -> Result<ExitCode, mxkv::Error> {
    let args: Vec<String> = std::env::args().collect();
    let devices = arg(&args, 1, 4, 1..=64);
    let epochs = arg(&args, 2, 10, 1..=1000);
    println!(
        "mxkv {} (Rust API): softmax regression, {NUM_CLASSES} classes x {NUM_FEATURES} features, {NUM_TRAIN} train / {NUM_TEST} test samples",
        env!("CARGO_PKG_VERSION")
    );
    let mut rng = Rng(SEED);
    let data = make_dataset(&mut rng);

    let kv = KVStore::create("local")?;
    let zeros = |k: usize, dev: i32| {
        NDArray::from_slice(
            SHAPES[k],
            &vec![0f32; SHAPES[k].iter().product()],
            Context::cpu(dev),
        )
    };
    kv.init(Keys::Int(&KEYS), &[zeros(0, 0)?, zeros(1, 0)?])?;
    let sgd = std::sync::Arc::new(Sgd {
        velocity: [0, 1].map(|k| Mutex::new(vec![0f32; SHAPES[k].iter().product()])),
        rescale: AtomicU32::new(0),
        calls: AtomicUsize::new(0),
    });
    kv.set_updater(SharedSgd(sgd.clone()));

    // One push and one pull per step: keys [0 × N, 1 × N], arrays grouped the same way.
    let keys: Vec<i32> = KEYS
        .iter()
        .flat_map(|&k| std::iter::repeat(k).take(devices))
        .collect();
    let params = (0..2 * devices)
        .map(|i| zeros(i / devices, (i % devices) as i32))
        .collect::<Result<Vec<_>, _>>()?;
    let grads = (0..2 * devices)
        .map(|i| zeros(i / devices, (i % devices) as i32))
        .collect::<Result<Vec<_>, _>>()?;
    kv.pull(Keys::Int(&keys), &params, true)?;
    println!("store '{}', {devices} devices cpu(0..{}), batch {BATCH_SIZE}, SGD lr {LEARNING_RATE} momentum {MOMENTUM} wd {WEIGHT_DECAY}", kv.type_name(), devices - 1);

    let mut order: Vec<usize> = (0..NUM_TRAIN).collect();
    let (mut steps, mut test_acc) = (0, 0.0);
    let start = Instant::now();
    for epoch in 1..=epochs {
        let epoch_start = Instant::now();
        let (mut loss, mut correct) = (0.0, 0);
        for i in (1..NUM_TRAIN).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for batch in order.chunks(BATCH_SIZE) {
            for d in 0..devices {
                let shard = &batch[batch.len() * d / devices..batch.len() * (d + 1) / devices];
                let (w, b) = (
                    params[d].to_vec::<f32>()?,
                    params[devices + d].to_vec::<f32>()?,
                );
                let (gw, gb, l, c) = shard_gradient(&w, &b, &data, shard);
                grads[d].copy_from_slice(&gw)?;
                grads[devices + d].copy_from_slice(&gb)?;
                loss += l;
                correct += c;
            }
            sgd.rescale
                .store((1.0 / batch.len() as f32).to_bits(), Ordering::Relaxed);
            kv.push(Keys::Int(&keys), &grads)?;
            kv.pull(Keys::Int(&keys), &params, true)?;
            steps += 1;
        }
        let (w, b) = (params[0].to_vec::<f32>()?, params[devices].to_vec::<f32>()?);
        for d in 1..devices {
            if params[d].to_vec::<f32>()? != w || params[devices + d].to_vec::<f32>()? != b {
                eprintln!("train: replica on cpu({d}) differs from cpu(0) after pull");
                return Ok(ExitCode::FAILURE);
            }
        }
        test_acc = accuracy(&w, &b, &data);
        println!(
            "epoch {epoch:2}  train loss {:.4}  train acc {:.4}  test acc {test_acc:.4}  time {:7.1} ms",
            loss / NUM_TRAIN as f64,
            correct as f64 / NUM_TRAIN as f64,
            epoch_start.elapsed().as_secs_f64() * 1e3
        );
    }
    let calls = sgd.calls.load(Ordering::Relaxed);
    if calls != 2 * steps {
        eprintln!(
            "train: updater ran {calls} times, expected {} (one per key per push)",
            2 * steps
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "summary: final test acc {test_acc:.4} (target {ACCURACY_TARGET:.2})  total {:.1} ms  steps {steps}  updater calls {calls}",
        start.elapsed().as_secs_f64() * 1e3
    );
    if test_acc < ACCURACY_TARGET {
        eprintln!(
            "train: final test accuracy {test_acc:.4} is below the target {ACCURACY_TARGET:.2}"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
