// Test workload in Rust: a method in a module under main -> work, so Rust
// demangling (legacy and v0) and CFI unwinding through Rust code are checked.
use std::hint::black_box;
use std::time::{Duration, Instant};

mod flame {
    pub struct Worker {
        pub acc: f64,
    }

    impl Worker {
        #[inline(never)]
        pub fn spin(&mut self, n: u64) {
            for i in 0..n {
                self.acc += std::hint::black_box(i) as f64 * 0.25;
            }
        }
    }
}

#[inline(never)]
fn work(w: &mut flame::Worker, n: u64) {
    w.spin(n);
    black_box(&w.acc);
}

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let spin = flame::Worker::spin as fn(&mut flame::Worker, u64) as *const ();
    let work_addr = work as fn(&mut flame::Worker, u64) as *const ();
    println!("spin={:p} work={:p}", spin, work_addr);
    let mut w = flame::Worker { acc: 0.0 };
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        work(&mut w, 200_000);
    }
    black_box(w.acc);
}
