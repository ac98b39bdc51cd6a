//! Who is who in a job: the first `DMLC_NUM_SERVER` ranks serve, the rest work (spec §6),
//! and where each key's values live on the servers (reference §4.3).

use std::ops::Range;

use smallvec::{smallvec, SmallVec};

use crate::error::{Error, Result};
use crate::kvstore::twobit;

/// The launcher's word on this process's place in the job: rank and size of the world.
/// Open MPI, MPICH/Hydra, PMIx and Slurm each say it in their own variables.
fn launcher_rank_size() -> Option<(i32, i32)> {
    const PAIRS: [(&str, &str); 4] = [
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("PMI_RANK", "PMI_SIZE"),
        ("PMIX_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("SLURM_PROCID", "SLURM_NTASKS"),
    ];
    PAIRS.iter().find_map(|(rank, size)| {
        let rank = std::env::var(rank).ok()?.parse().ok()?;
        let size = std::env::var(size).ok()?.parse().ok()?;
        Some((rank, size))
    })
}

fn env_count(name: &str) -> Result<Option<i32>> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(text) => match text.trim().parse::<i32>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(Error::Dist(format!(
                "{name}={text:?} is not a count of processes"
            ))),
        },
    }
}

/// The roles of a job's ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// This process's rank in the world.
    pub rank: i32,
    pub servers: i32,
    pub workers: i32,
}

impl Layout {
    /// The layout of the job this process was launched in, or None when no MPI launcher
    /// started it.
    pub fn from_env() -> Result<Option<Layout>> {
        let Some((rank, size)) = launcher_rank_size() else {
            return Ok(None);
        };
        let servers = env_count("DMLC_NUM_SERVER")?.unwrap_or(1);
        Layout::new(rank, size, servers, env_count("DMLC_NUM_WORKER")?).map(Some)
    }

    pub fn new(rank: i32, size: i32, servers: i32, workers_said: Option<i32>) -> Result<Layout> {
        if servers >= size {
            return Err(Error::Dist(format!(
                "the job has no worker ranks: DMLC_NUM_SERVER={servers} of {size} ranks; \
                 start more ranks (mpirun -np N with N > DMLC_NUM_SERVER)"
            )));
        }
        let workers = size - servers;
        if let Some(said) = workers_said {
            if said != workers {
                return Err(Error::Dist(format!(
                    "DMLC_NUM_WORKER={said} disagrees with the job: {size} ranks less \
                     DMLC_NUM_SERVER={servers} servers leave {workers} workers"
                )));
            }
        }
        Ok(Layout {
            rank,
            servers,
            workers,
        })
    }

    pub fn is_server(&self) -> bool {
        self.rank < self.servers
    }

    /// This process's rank among the workers (None on a server).
    pub fn worker_rank(&self) -> Option<i32> {
        (!self.is_server()).then_some(self.rank - self.servers)
    }

    /// The world rank of worker `w`.
    pub fn worker_world_rank(&self, w: i32) -> i32 {
        self.servers + w
    }
}

/// Where a key's pieces are: one piece for most keys, held without allocating (a call of
/// 1000 small keys places each of them on every push and pull).
pub type Parts = SmallVec<[Part; 1]>;

/// One piece of a key's value and the server (world rank) that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub server: i32,
    /// Which piece: 0 for a key kept whole.
    pub index: u32,
    /// Its elements, as a range of the key's flat value.
    pub elems: Range<usize>,
}

/// Where a key of `n` elements in rows of `row_len` lives: whole on server
/// `(key * 9973) % S`, or, from `bound` elements on, in S contiguous pieces of whole rows,
/// piece i on server i, as MXNet splits dense values by elements (rows of 1) and
/// row_sparse ones by rows (reference §4.3), so that a row never straddles two servers.
pub fn placement(key: i32, n: usize, row_len: usize, servers: i32, bound: usize) -> Parts {
    let s = servers as usize;
    if n < bound || s == 1 {
        let server = (key as i64 * 9973).rem_euclid(servers as i64) as i32;
        return smallvec![Part {
            server,
            index: 0,
            elems: 0..n,
        }];
    }
    let row_len = row_len.max(1);
    let rows = (n / row_len) as f64;
    pieces(s, |i| {
        (rows / s as f64 * i as f64).round() as usize * row_len
    })
}

/// S pieces, piece i on server i, from element `edge(i)` to `edge(i + 1)`.
fn pieces(s: usize, edge: impl Fn(usize) -> usize) -> Parts {
    (0..s)
        .map(|i| Part {
            server: i as i32,
            index: i as u32,
            elems: edge(i)..edge(i + 1),
        })
        .collect()
}

/// Where a key of `n` elements lives once its pushes travel 2-bit packed (MXNet's
/// `EncodeCompressedKey`, reference §4.3): as [`placement`], but a split key's pieces are
/// cut between packed words, so that each server dequantises its own words — piece i holds
/// the values of words `round(W/S*i)..round(W/S*(i+1))` of the key's W words.
pub fn packed_placement(key: i32, n: usize, servers: i32, bound: usize) -> Parts {
    let s = servers as usize;
    if n < bound || s == 1 {
        return placement(key, n, 1, servers, bound);
    }
    let words = twobit::packed_len(n) as f64;
    pieces(s, |i| match i {
        _ if i == s => n,
        _ => (words / s as f64 * i as f64).round() as usize * twobit::VALUES_PER_WORD,
    })
}

/// `MXNET_KVSTORE_BIGARRAY_BOUND`: arrays of at least this many elements are split over
/// the servers (default 1e6).
pub fn bigarray_bound() -> usize {
    std::env::var("MXNET_KVSTORE_BIGARRAY_BOUND")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_ranks_serve() {
        let l = Layout::new(1, 4, 2, None).unwrap();
        assert!(l.is_server());
        let w = Layout::new(3, 4, 2, Some(2)).unwrap();
        assert_eq!(w.worker_rank(), Some(1));
        assert_eq!(w.worker_world_rank(0), 2);
    }

    #[test]
    fn a_job_without_workers_or_with_a_wrong_count_is_refused() {
        let e = Layout::new(0, 2, 2, None).unwrap_err().to_string();
        assert!(e.contains("no worker ranks"), "{e}");
        let e = Layout::new(0, 3, 1, Some(3)).unwrap_err().to_string();
        assert!(e.contains("DMLC_NUM_WORKER=3"), "{e}");
    }

    #[test]
    fn small_keys_go_whole_to_one_server() {
        let p = placement(3, 10, 1, 2, 100);
        assert_eq!(
            p.to_vec(),
            vec![Part {
                server: (3 * 9973) % 2,
                index: 0,
                elems: 0..10
            }]
        );
    }

    #[test]
    fn packed_keys_are_split_between_words() {
        // 100 values: 7 words, over 3 servers as 2, 3, 2 words (MXNet's rounding).
        let p = packed_placement(0, 100, 3, 10);
        let ranges: Vec<_> = p.iter().map(|p| p.elems.clone()).collect();
        assert_eq!(ranges, vec![0..32, 32..80, 80..100]);
        assert_eq!(packed_placement(5, 9, 3, 10), placement(5, 9, 1, 3, 10));
        assert_eq!(packed_placement(5, 100, 1, 10), placement(5, 100, 1, 1, 10));
    }

    #[test]
    fn big_keys_are_split_over_every_server() {
        let p = placement(0, 10, 1, 3, 10);
        let ranges: Vec<_> = p.iter().map(|p| p.elems.clone()).collect();
        assert_eq!(ranges, vec![0..3, 3..7, 7..10]);
        // 10 rows of 4: pieces of 3, 4 and 3 rows.
        let rows: Vec<_> = placement(0, 40, 4, 3, 10)
            .iter()
            .map(|p| p.elems.clone())
            .collect();
        assert_eq!(rows, vec![0..12, 12..28, 28..40]);
        assert_eq!(
            p.iter().map(|p| p.server).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
    }
}
