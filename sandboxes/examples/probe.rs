use protege_sandboxes::wasi::{WasiLimits, WasiSandbox};
use protege_sandboxes::{ExecOptions, Sandbox};
#[tokio::main]
async fn main() {
    let sb = WasiSandbox::open_scratch(WasiLimits::default())
        .await
        .unwrap();
    let code = std::env::args().nth(1).unwrap();
    for _ in 0..2 {
        let t = std::time::Instant::now();
        let o = sb
            .exec(
                &code,
                &ExecOptions::with_timeout(std::time::Duration::from_secs(60)),
            )
            .await
            .unwrap();
        println!("{}\n-- {:?} exit {:?}", o.output, t.elapsed(), o.exit_code);
    }
}
