//! The fallback deadline mechanism, epoch checks, for modules whose memory cannot be revoked
//! (`wasi::deadline`): forced here with `PROTEGE_WASI_DEADLINES=epoch`, which is read once per
//! process, so this binary holds one test.
#![cfg(all(feature = "wasi", unix))]

mod common;

use std::time::Duration;

use protege_sandboxes::wasi::runtime::Deadlines;
use protege_sandboxes::wasi::{WasiLimits, WasiSandbox};
use protege_sandboxes::{ExecOptions, Sandbox};

#[tokio::test]
async fn epoch_deadlines_stop_loops_and_let_commands_finish() {
    // SAFETY: the only test of this binary, before it starts any thread of its own.
    unsafe { std::env::set_var("PROTEGE_WASI_DEADLINES", "epoch") };
    let Some(sb) =
        common::unless_unfetchable(WasiSandbox::open_scratch(WasiLimits::default()).await)
    else {
        return;
    };
    let rt = protege_sandboxes::wasi::runtime::runtime_async()
        .await
        .unwrap();
    assert!(
        matches!(rt.deadlines(), Deadlines::Epoch(_)),
        "{:?}",
        rt.deadlines()
    );
    for code in ["while True: pass", "sum(range(10**15))"] {
        let o = sb
            .exec(
                &format!("python -c '{code}'"),
                &ExecOptions::with_timeout(Duration::from_millis(500)),
            )
            .await
            .unwrap();
        assert!(o.timed_out && o.exit_code.is_none(), "{code}: {o:?}");
    }
    let o = sb
        .exec(
            "python -c 'print(6 * 7)'",
            &ExecOptions::with_timeout(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    assert_eq!((o.exit_code, o.output.as_str()), (Some(0), "42\n"));
}
